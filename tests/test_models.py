"""DCGAN shapes, parameter counts, resolutions, and the conv formulations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan.errors import UsageError
from jaxgan.models import dcgan, layers


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def test_parameter_counts_match_the_pytorch_tutorial():
  g, d = dcgan.Generator(image_size=64), dcgan.Discriminator(image_size=64)
  vg = jax.eval_shape(g.init, jax.random.PRNGKey(0), jnp.zeros((1, 100)))
  vd = jax.eval_shape(d.init, jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)))
  assert _count(vg["params"]) == 3_576_704
  assert _count(vd["params"]) == 2_765_568


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_family_builds_at_each_resolution(size, channels):
  g = dcgan.Generator(image_size=size, channels=channels, width=4)
  d = dcgan.Discriminator(image_size=size, channels=channels, width=4)
  z = jnp.zeros((2, 100))
  vg = g.init(jax.random.PRNGKey(0), z)
  images, _ = g.apply(vg, z, mutable=["batch_stats"])
  assert images.shape == (2, size, size, channels)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  vd = d.init(jax.random.PRNGKey(1), images)
  logits, _ = d.apply(vd, images, mutable=["batch_stats"])
  assert logits.shape == (2,)


@pytest.mark.parametrize("size", [0, 4, 48, 100, 2048])
def test_unbuildable_resolution_is_a_usage_error(size):
  with pytest.raises(UsageError, match="power of two"):
    dcgan.num_stages(size)


def test_initialisation_follows_dcgan():
  g = dcgan.Generator(image_size=64)
  params = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 100)))["params"]
  kernel = np.asarray(params["up2"]["kernel"])
  assert abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3
  scale = np.asarray(params["bn0"]["scale"])
  assert abs(scale.mean() - 1.0) < 0.01 and abs(scale.std() - 0.02) < 0.005
  assert not np.any(np.asarray(params["bn0"]["bias"]))


NHWC = ("NHWC", "HWIO", "NHWC")


def test_transposed_conv_of_1x1_equals_lax():
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 1, 1, 7))
  k = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 7, 5))
  ref = lax.conv_transpose(x, k, (1, 1), ((3, 3), (3, 3)), dimension_numbers=NHWC)
  np.testing.assert_allclose(layers.conv_transpose_from_1x1(x, k), ref, rtol=1e-5, atol=1e-5)


def test_models_agree_across_conv_impls():
  """Same parameters, same outputs, whichever formulation computes them."""
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 100))
  g_lax = dcgan.Generator(image_size=32, width=8, conv_impl="lax")
  g_new = g_lax.clone(conv_impl="rearranged")
  v = g_lax.init(jax.random.PRNGKey(1), z)
  a, _ = g_lax.apply(v, z, mutable=["batch_stats"])
  b, _ = g_new.apply(v, z, mutable=["batch_stats"])
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  d_lax = dcgan.Discriminator(image_size=32, width=16, conv_impl="lax")
  d_new = d_lax.clone(conv_impl="rearranged")
  vd = d_lax.init(jax.random.PRNGKey(2), a)
  np.testing.assert_allclose(d_lax.apply(vd, a, mutable=["batch_stats"])[0],
                             d_new.apply(vd, a, mutable=["batch_stats"])[0], rtol=1e-5, atol=1e-5)
