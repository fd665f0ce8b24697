"""jaxgan's StyleGAN2 equals an independent PyTorch one (benchmarks/torch_stylegan2.py, with
NVIDIA's parameter names): G and D forward from imported weights, and one whole train step
(G main, path length, D main, R1) from the same weights and random draws. The fixture comes
from scripts/export_stylegan2_torch_reference.py; no torch needed here."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.models import stylegan2, torch_import
from jaxgan.train import build, stylegan2_step
from jaxgan.train.state import GANState, NetState

from helpers import REPO, assert_adam_moves_equal, assert_close_scaled, fixture_group, load_fixture

FIXTURE = "stylegan2_torch_reference.npz"
TINY = {"image_size": "16", "channels": "3", "model.latent_dim": "16", "model.w_dim": "16",
        "model.channel_base": "128", "model.channel_max": "16", "batch_size": "8",
        "stylegan2.r1_gamma": "1.0"}


def tiny_config(conv_impl: str = "auto"):
  """The fixture's networks and step (also read by the export script)."""
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "stylegan2_digits.py"))
  config_lib.apply_overrides(c, {**TINY, "conv_impl": conv_impl})
  return c


def full_config():
  return config_lib.load_config_file(os.path.join(REPO, "experiments", "stylegan2_ffhq256.py"))


@pytest.fixture(scope="module")
def ref():
  return load_fixture(FIXTURE)


# The native convolutions (accelerators) and the CPU formulations (cpu_conv's sub-pixel
# up-convolution and matmul kernel gradients).
@pytest.fixture(scope="module", params=["lax", "rearranged"])
def gan(request):
  return build.build_gan(tiny_config(request.param))


def test_generator_matches_pytorch(ref, gan):
  """Mapping, style mixing (per-example cutoffs, 6 = none), modulated convolutions, FIR
  up-sampling, noise from the keys, toRGB skips; eval mode (w_avg untouched)."""
  variables = torch_import.stylegan2_generator_variables(fixture_group(ref, "g"))
  img = jax.jit(lambda v: gan.generator.apply(
      v, ref["z"], train=False, noise_keys=ref["noise_keys"], mix_z=ref["mix_z"],
      mix_cutoff=ref["cutoff"]))(variables)
  assert_close_scaled(img, ref["g_eval"])
  assert float(np.abs(ref["g_eval"]).max()) > 0.1


def test_discriminator_matches_pytorch(ref, gan):
  """fromRGB, ResNet blocks with FIR-blurred down-sampling, minibatch stddev over groups of
  4, and the epilogue's dense layer (NVIDIA's NCHW flattening, permuted by the import)."""
  variables = torch_import.stylegan2_discriminator_variables(fixture_group(ref, "d"))
  logits = jax.jit(lambda v: gan.discriminator.apply(v, ref["x"]))(variables)
  assert_close_scaled(logits, ref["d_logits"])


def test_imported_tree_matches_flax_init(ref, gan):
  """Every Flax variable is filled by the import, with the same shape, and nothing else."""
  c = tiny_config()
  for module, variables, dummy in (
      (gan.generator, torch_import.stylegan2_generator_variables(fixture_group(ref, "g")),
       jnp.zeros((1, c.model.latent_dim))),
      (gan.discriminator, torch_import.stylegan2_discriminator_variables(fixture_group(ref, "d")),
       jnp.zeros((1, 16, 16, 3)))):
    init = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), dummy)
    assert jax.tree.structure(init) == jax.tree.structure(variables)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(variables)):
      assert a.shape == b.shape


def test_import_rejects_the_other_network_and_buffers_are_skipped(ref):
  g, d = fixture_group(ref, "g"), fixture_group(ref, "d")
  with pytest.raises(ValueError, match="generator key"):
    torch_import.stylegan2_generator_variables(d)
  with pytest.raises(ValueError, match="discriminator key"):
    torch_import.stylegan2_discriminator_variables(g)
  # NVIDIA's state_dicts carry FIR filters and constant noise maps as buffers: ignored.
  extra = {**g, "synthesis.b8.conv0.noise_const": np.zeros((8, 8), np.float32)}
  a = torch_import.stylegan2_generator_variables(extra)
  assert jax.tree.all(jax.tree.map(np.array_equal, a,
                                   torch_import.stylegan2_generator_variables(g)))


def test_parameter_counts_match_pytorch_at_256(ref):
  """experiments/stylegan2_ffhq256.py's G and D have the PyTorch networks' sizes."""
  c = full_config()
  g = stylegan2.Generator(image_size=256, channels=3, latent_dim=512, w_dim=512,
                          mapping_layers=c.model.mapping_layers,
                          channel_base=c.model.channel_base, channel_max=c.model.channel_max)
  d = stylegan2.Discriminator(image_size=256, channels=3, channel_base=c.model.channel_base,
                              channel_max=c.model.channel_max)
  count = lambda module, x: sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(
      jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), x)["params"]))
  assert count(g, jax.ShapeDtypeStruct((1, 512), jnp.float32)) == int(ref["count/g256"])
  assert count(d, jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32)) == int(ref["count/d256"])


def test_one_training_step_matches_pytorch(ref, gan):
  """jaxgan's step 0 = the PyTorch loop's four phases on the same weights and draws: the
  losses and penalties, the path-length mean, w_avg, every parameter after two Adam updates
  per network (lr and betas corrected for the lazy intervals), and the EMA (= G at step 0)."""
  g0 = torch_import.stylegan2_generator_variables(fixture_group(ref, "g"))
  d0 = torch_import.stylegan2_discriminator_variables(fixture_group(ref, "d"))
  net = lambda v, tx: NetState(params=v["params"], batch_stats=v.get("batch_stats", {}),
                               opt_state=tx.init(v["params"]))
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(int(ref["seed"])),
                   g=net(g0, gan.g_tx), d=net(d0, gan.d_tx), g_ema=g0["params"],
                   extras={"pl_mean": jnp.zeros((), jnp.float32)})
  new, m = jax.jit(functools.partial(stylegan2_step.stylegan2_train_step, gan=gan))(
      state, {"image": ref["real"]})

  assert float(m["r1_applied"]) == 1.0 and float(m["pl_applied"]) == 1.0
  for name in ("g_loss", "pl_penalty", "pl_mean", "d_loss", "r1_penalty"):
    np.testing.assert_allclose(m[name], ref[f"step/{name}"], rtol=1e-4, err_msg=name)
  g1 = torch_import.stylegan2_generator_variables(fixture_group(ref, "step_g"))
  d1 = torch_import.stylegan2_discriminator_variables(fixture_group(ref, "step_d"))
  np.testing.assert_allclose(new.g.batch_stats["w_avg"], g1["batch_stats"]["w_avg"], rtol=1e-5,
                             atol=1e-6)
  c = tiny_config()
  # Adam with b1 = 0 moves each weight by about lr * g / |g| per update.
  assert_adam_moves_equal(new.g.params, g0["params"], g1["params"], c.optimizer_g.lr, "G")
  assert_adam_moves_equal(new.d.params, d0["params"], d1["params"], c.optimizer_d.lr, "D")
  assert jax.tree.all(jax.tree.map(np.array_equal, new.g_ema, new.g.params))
