"""The Flax DCGAN equals the PyTorch tutorial's networks (fixture from scripts/export_...py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import dcgan, torch_import
from helpers import load_fixture, fixture_group as _state

FIXTURE = "dcgan_torch_reference.npz"
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def ref():
  return load_fixture(FIXTURE)


@pytest.mark.parametrize("impl", ["lax", "rearranged"])
@pytest.mark.parametrize("train", [False, True])
def test_generator_matches_pytorch(ref, impl, train):
  g = dcgan.Generator(image_size=64, channels=3, width=int(ref["width"]), conv_impl=impl)
  variables = torch_import.generator_variables(_state(ref, "g"))
  out, mutated = jax.jit(lambda v, z: g.apply(v, z, train=train, mutable=["batch_stats"]))(
      variables, ref["z"])
  np.testing.assert_allclose(out, ref["g_train" if train else "g_eval"], **TOL)
  if train:  # running statistics follow PyTorch's momentum 0.1 and unbiased variance
    after = _state(ref, "g_after")
    for i in range(4):
      for field in ("mean", "var"):
        np.testing.assert_allclose(mutated["batch_stats"][f"bn{i}"][field],
                                   after[f"main.{3 * i + 1}.running_{field}"], **TOL)


@pytest.mark.parametrize("impl", ["lax", "rearranged"])
@pytest.mark.parametrize("train", [False, True])
def test_discriminator_matches_pytorch(ref, impl, train):
  d = dcgan.Discriminator(image_size=64, channels=3, width=int(ref["width"]), conv_impl=impl)
  variables = torch_import.discriminator_variables(_state(ref, "d"))
  logits, _ = jax.jit(lambda v, x: d.apply(v, x, train=train, mutable=["batch_stats"]))(
      variables, ref["x"])
  np.testing.assert_allclose(logits, ref["d_train_logits" if train else "d_eval_logits"], **TOL)
  if train:
    np.testing.assert_allclose(jax.nn.sigmoid(logits), ref["d_train_probs"], **TOL)


def test_imported_tree_matches_flax_init(ref):
  """Every Flax parameter is filled by the import, with the same shape."""
  width = int(ref["width"])
  for module, variables, dummy in (
      (dcgan.Generator(image_size=64, width=width),
       torch_import.generator_variables(_state(ref, "g")), jnp.zeros((1, 100))),
      (dcgan.Discriminator(image_size=64, width=width),
       torch_import.discriminator_variables(_state(ref, "d")), jnp.zeros((1, 64, 64, 3)))):
    init = jax.eval_shape(module.init, jax.random.PRNGKey(0), dummy)
    assert jax.tree.structure(init) == jax.tree.structure(variables)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(variables)):
      assert a.shape == b.shape
