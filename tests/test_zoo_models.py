"""SNGAN ResNet (tiny), conditioning, DiffAugment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment
from jaxgan.errors import UsageError
from jaxgan.models import resnet


def _init(module, *args):
  return module.init(jax.random.PRNGKey(0), *args, train=False)


@pytest.mark.parametrize("conditioning", ["", "projection", "acgan"])
def test_resnet_shapes(conditioning):
  k = 3 if conditioning else 0
  g = resnet.Generator(image_size=16, channels=1, latent_dim=8, width=8, num_classes=k)
  d = resnet.Discriminator(image_size=16, channels=1, width=8, num_classes=k,
                           conditioning=conditioning or "projection")
  z, y = jnp.ones((2, 8)), jnp.array([0, 2])
  labels = (y,) if k else ()
  gv = _init(g, z, *labels)
  x = g.apply(gv, z, *labels, train=False)
  assert x.shape == (2, 16, 16, 1) and float(jnp.max(jnp.abs(x))) <= 1.0
  dv = _init(d, x, *labels)
  out = d.apply(dv, x, *labels, train=False)
  if conditioning == "acgan":
    assert out[0].shape == (2,) and out[1].shape == (2, 3)
  else:
    assert out.shape == (2,)
  if k:  # conditional BN: per-class scale and shift, so (once they differ) labels matter
    params = jax.tree_util.tree_map_with_path(
        lambda p, v: v + jnp.arange(v.size).reshape(v.shape) * 0.1
        if "beta" in jax.tree_util.keystr(p) else v, gv["params"])
    gv = {**gv, "params": params}
    assert not np.allclose(g.apply(gv, z, y, train=False),
                           g.apply(gv, z, jnp.array([1, 1]), train=False))


def _conv_input_dtypes(fn, *args):
  """Dtypes of the left operand of every convolution `fn(*args)` traces."""
  jaxpr = jax.make_jaxpr(fn)(*args)
  found = []
  def walk(j):
    for eqn in j.eqns:
      if eqn.primitive.name == "conv_general_dilated":
        found.append(eqn.invars[0].aval.dtype)
      for sub in jax.core.jaxprs_in_params(eqn.params):
        walk(sub)
  walk(jaxpr.jaxpr)
  return found


@pytest.mark.parametrize("conditioning", ["", "projection"])
def test_resnet_bfloat16_convolves_in_bfloat16_and_matches_float32(conditioning):
  # compute_dtype=bfloat16 must reach every convolution (it once stopped at the module
  # fields, so "bf16" SNGAN ran in float32), while logits and images stay float32.
  k = 3 if conditioning else 0
  kw = dict(image_size=16, channels=3, num_classes=k)
  g32 = resnet.Generator(latent_dim=8, width=16, **kw)
  d32 = resnet.Discriminator(width=16, conditioning=conditioning or "projection", **kw)
  g16, d16 = g32.clone(dtype=jnp.bfloat16), d32.clone(dtype=jnp.bfloat16)
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
  labels = (jnp.array([0, 1, 2, 0]),) if k else ()
  gv = _init(g32, z, *labels)
  x = g32.apply(gv, z, *labels, train=False)
  dv = _init(d32, x, *labels)
  for module, v, inp in ((g16, gv, z), (d16, dv, x)):
    dtypes = _conv_input_dtypes(lambda a: module.apply(v, a, *labels, train=False), inp)
    assert dtypes and all(t == jnp.bfloat16 for t in dtypes), dtypes
  x16 = g16.apply(gv, z, *labels, train=False)
  logits16, logits32 = d16.apply(dv, x, *labels, train=False), d32.apply(dv, x, *labels, train=False)
  assert x16.dtype == logits16.dtype == jnp.float32
  rel = lambda a, b: float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))
  assert rel(x16, x) < 3e-2 and rel(logits16, logits32) < 3e-2


def test_projection_adds_the_class_embedding_inner_product():
  d = resnet.Discriminator(image_size=8, channels=1, width=4, num_classes=2, spectral=False)
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 1))
  v = _init(d, x, jnp.zeros(2, jnp.int32))
  a = d.apply(v, x, jnp.array([0, 0]), train=False)
  b = d.apply(v, x, jnp.array([1, 1]), train=False)
  # The logits of two classes differ by <e_0 - e_1, h>, h the pooled features: apply D
  # with the embedding table zeroed to check that the rest is class-free.
  zeroed = jax.tree_util.tree_map_with_path(
      lambda p, t: jnp.zeros_like(t) if "embed" in jax.tree_util.keystr(p) else t, v["params"])
  z0 = d.apply({**v, "params": zeroed}, x, jnp.array([0, 0]), train=False)
  z1 = d.apply({**v, "params": zeroed}, x, jnp.array([1, 1]), train=False)
  np.testing.assert_allclose(z0, z1)
  assert not np.allclose(a, b)


def test_resnet_rejects_bad_sizes():
  with pytest.raises(UsageError, match="power of two"):
    resnet.num_resamplings(24)


def test_diffaugment():
  aug = augment.DiffAugment.from_policy("cutout, translation,color")
  assert aug.policies == ("color", "translation", "cutout")
  x = jnp.ones((3, 8, 8, 1))
  params = {"u": jnp.array([[0.5, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5]] * 3)}
  only_shift = augment.DiffAugment(("translation",)).apply(x, params)
  # dy = -1, dx = +1: the last row and the first column are vacated (zero).
  np.testing.assert_array_equal(only_shift[0, -1], 0.0)
  np.testing.assert_array_equal(only_shift[0, :, 0], 0.0)
  assert float(only_shift[0, 3, 3, 0]) == 1.0
  cut = augment.DiffAugment(("cutout",)).apply(x, params)
  assert float(jnp.sum(cut == 0)) == 3 * 16          # a 4x4 square per image
  # color with u = 0.5: brightness +0, saturation x1, contrast x1: identity.
  np.testing.assert_allclose(augment.DiffAugment(("color",)).apply(x * 0.3, params), x * 0.3,
                             rtol=1e-6)
  g = jax.grad(lambda v: jnp.sum(aug.apply(v, aug.sample(jax.random.PRNGKey(0), 3))))(x)
  assert np.all(np.isfinite(g))
  with pytest.raises(UsageError, match="valid: color, translation, cutout"):
    augment.DiffAugment.from_policy("flip")
