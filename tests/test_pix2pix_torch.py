"""The Flax pix2pix networks equal the authors' PyTorch ones (fixture from
scripts/export_pix2pix_torch_reference.py; no torch needed here)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import pix2pix, torch_import
from helpers import load_fixture, fixture_group as _state, assert_close_scaled as _close
from helpers import assert_adam_moves_equal

FIXTURE = "pix2pix_torch_reference.npz"
TOL = dict(rtol=1e-5, atol=1e-5)
# Outputs: 1e-5 relative to each output's scale (G's eval-mode images are ~0.06 at most at
# init, where a flat atol of 1e-5 would be loose); the largest error seen is ~1e-6 of it.

IMPLS = ["lax", "rearranged"]


@pytest.fixture(scope="module")
def ref():
  return load_fixture(FIXTURE)


def _apply(module, variables, x, train):
  fn = lambda v, x: module.apply(v, x, train=train, mutable=["batch_stats"])
  return jax.jit(fn)(variables, x)


def _check_running_stats(mutated, expected):
  """Running means and variances as torch's (momentum 0.1, the variance unbiased: at the
  2x2 maps near the innermost level n = 8 and Bessel's factor is 8/7)."""
  for name, stats in expected.items():
    for field in ("mean", "var"):
      np.testing.assert_allclose(mutated[name][field], stats[field], err_msg=f"{name}.{field}",
                                 **TOL)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
def test_generator_matches_pytorch(ref, impl, train):
  g = pix2pix.UNetGenerator(image_size=64, channels=3, width=int(ref["width"]), norm="batch",
                            dropout=0.0, conv_impl=impl)
  out, mutated = _apply(g, torch_import.pix2pix_generator_variables(_state(ref, "g")),
                        ref["a"], train)
  _close(out, ref["g_train" if train else "g_eval"])
  if train:
    after = {**_state(ref, "g"), **_state(ref, "g_after")}
    _check_running_stats(mutated["batch_stats"],
                         torch_import.pix2pix_generator_variables(after)["batch_stats"])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
def test_discriminator_matches_pytorch(ref, impl, train):
  d = pix2pix.PatchDiscriminator(channels=6, width=int(ref["width"]), norm="batch",
                                 conv_impl=impl)
  pair = np.concatenate([ref["a"], ref["b"]], axis=-1)
  logits, mutated = _apply(d, torch_import.pix2pix_discriminator_variables(_state(ref, "d")),
                           pair, train)
  _close(logits, ref["d_train_logits" if train else "d_eval_logits"])
  if train:
    after = {**_state(ref, "d"), **_state(ref, "d_after")}
    _check_running_stats(mutated["batch_stats"],
                         torch_import.pix2pix_discriminator_variables(after)["batch_stats"])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
def test_instance_norm_variant_matches_pytorch(ref, impl, train):
  width = int(ref["width"])
  a, b = ref["a"][:, ::2, ::2], ref["b"][:, ::2, ::2]  # the variant is 32x32
  g = pix2pix.UNetGenerator(image_size=32, channels=3, width=width, norm="instance",
                            dropout=0.0, conv_impl=impl)
  out, _ = _apply(g, torch_import.pix2pix_generator_variables(_state(ref, "gi")), a, train)
  _close(out, ref["gi_out"])
  d = pix2pix.PatchDiscriminator(channels=6, width=width, norm="instance", conv_impl=impl)
  logits, _ = _apply(d, torch_import.pix2pix_discriminator_variables(_state(ref, "di")),
                     np.concatenate([a, b], axis=-1), train)
  _close(logits, ref["di_logits"])


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_imported_tree_matches_flax_init(ref, norm):
  """Every Flax variable is filled by the import, with the same shape, and nothing else."""
  size, g_key, d_key = (64, "g", "d") if norm == "batch" else (32, "gi", "di")
  width = int(ref["width"])
  for module, variables, dummy in (
      (pix2pix.UNetGenerator(image_size=size, width=width, norm=norm),
       torch_import.pix2pix_generator_variables(_state(ref, g_key)), (1, size, size, 3)),
      (pix2pix.PatchDiscriminator(channels=6, width=width, norm=norm),
       torch_import.pix2pix_discriminator_variables(_state(ref, d_key)), (1, size, size, 6))):
    init = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, train=False),
                          jnp.zeros(dummy))
    variables = {k: v for k, v in variables.items() if v}  # InstanceNorm: no batch_stats
    assert jax.tree.structure(init) == jax.tree.structure(variables)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(variables)):
      assert a.shape == b.shape


def test_import_accepts_data_parallel_keys_and_rejects_others(ref):
  state = _state(ref, "g")
  plain = torch_import.pix2pix_generator_variables(state)
  wrapped = torch_import.pix2pix_generator_variables({f"module.{k}": v for k, v in state.items()})
  assert jax.tree.all(jax.tree.map(np.array_equal, plain, wrapped))
  with pytest.raises(ValueError):
    torch_import.pix2pix_generator_variables(_state(ref, "d"))
  with pytest.raises(ValueError):
    torch_import.pix2pix_discriminator_variables(state)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_parameter_counts_match_pytorch_at_256(ref, norm):
  """unet_256 (ngf 64) and the basic D (ndf 64, 6 channels in), without allocating them."""
  def count(module, shape):
    shapes = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, train=False),
                            jax.ShapeDtypeStruct(shape, jnp.float32))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))

  assert count(pix2pix.UNetGenerator(image_size=256, norm=norm), (1, 256, 256, 3)) == \
      int(ref[f"count/g256_{norm}"])
  assert count(pix2pix.PatchDiscriminator(channels=6, norm=norm), (1, 256, 256, 6)) == \
      int(ref[f"count/d256_{norm}"])


@pytest.mark.parametrize("impl", IMPLS)
def test_one_training_step_matches_pytorch(ref, impl):
  """jaxgan's translation step from the fixture's weights = the reference's
  optimize_parameters: both losses, every parameter's Adam update, every running statistic."""
  import functools

  import ml_collections

  from jaxgan.train import build, steps
  from jaxgan.train.state import GANState, NetState

  width = int(ref["width"])
  c = ml_collections.ConfigDict(dict(
      task="paired", image_size=64, channels=3, input_channels=3, loss="dcgan",
      conv_impl=impl, batch_size=2, num_train_steps=10,
      model=dict(name="pix2pix", g_width=width, d_width=width, norm="batch", dropout=0.0,
                 d_layers=3),
      translation=dict(l1_weight=float(ref["lambda_l1"]), d_loss_scale=0.5),
      optimizer_g=dict(name="adam", lr=float(ref["lr"]), b1=float(ref["beta1"]), b2=0.999),
      optimizer_d=dict(name="adam", lr=float(ref["lr"]), b1=float(ref["beta1"]), b2=0.999)))
  gan = build.build_gan(c)
  g0 = torch_import.pix2pix_generator_variables(_state(ref, "g"))
  d0 = torch_import.pix2pix_discriminator_variables(_state(ref, "d"))
  net = lambda v, tx: NetState(params=v["params"], batch_stats=v["batch_stats"],
                               opt_state=tx.init(v["params"]))
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(0),
                   g=net(g0, gan.g_tx), d=net(d0, gan.d_tx))
  new, m = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(
      state, {"input": ref["a"], "image": ref["b"]})

  np.testing.assert_allclose(m["d_loss"], ref["step/d_loss"], rtol=1e-5)
  np.testing.assert_allclose(m["g_loss"] + ref["lambda_l1"] * m["g_l1"], ref["step/g_loss"],
                             rtol=1e-5)
  lr = float(ref["lr"])
  for prefix, before, after, to_flax in (
      ("step_g", g0, new.g, torch_import.pix2pix_generator_variables),
      ("step_d", d0, new.d, torch_import.pix2pix_discriminator_variables)):
    expected = to_flax(_state(ref, prefix))
    # Adam's first step moves each weight by ~lr * sign(grad).
    assert_adam_moves_equal(after.params, before["params"], expected["params"], lr, prefix)
    _check_running_stats(after.batch_stats, expected["batch_stats"])
