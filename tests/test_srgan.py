"""SRGAN / ESRGAN networks and the super-resolution step: shapes, ranges, bf16, the step
under jit and sharded jit, and clear errors (tests/test_srgan_torch.py: equality with
PyTorch)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses
from jaxgan.errors import UsageError
from jaxgan.models import layers, srgan, vgg
from jaxgan.train import parallel, superres_step
from jaxgan.train.state import GANDef, GANState, NetState

VGG_DIV = 16  # a narrow VGG keeps the perceptual term cheap here


def _rand(shape, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _init(module, shape, train=False):
  # Jitted: eager Flax runs op by op, far slower than compiling these tiny nets.
  return jax.jit(lambda x: module.init(jax.random.PRNGKey(0), x, train=train))(jnp.zeros(shape))


def _apply(module, variables, x, **kw):
  return jax.jit(lambda v, x: module.apply(v, x, **kw))(variables, x)


@pytest.mark.parametrize("scale", [2, 4])
def test_srresnet_upsamples_into_minus_one_one(scale):
  g = srgan.SRResNet(scale=scale, width=4, num_blocks=1)
  x = _rand((2, 5, 6, 3))
  v = _init(g, x.shape)
  y = _apply(g, v, x, train=False)
  assert y.shape == (2, 5 * scale, 6 * scale, 3) and y.dtype == jnp.float32
  assert float(jnp.abs(y).max()) <= 1.0
  assert g.latent_dim == 0


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_rrdbnet_upsamples_by_its_scale(scale):
  g = srgan.RRDBNet(scale=scale, num_feat=4, num_block=1, num_grow_ch=2)
  x = _rand((1, 8, 8, 3))
  y = _apply(g, _init(g, x.shape), x)
  assert y.shape == (1, 8 * scale, 8 * scale, 3)


def test_rrdb_convs_use_basicsr_init():
  """kaiming_normal x 0.1 (std 0.1 sqrt(2 / fan_in)), zero biases; the other convs
  PyTorch's default U(+-1/sqrt(fan_in))."""
  g = srgan.RRDBNet(num_feat=32, num_block=1, num_grow_ch=16)
  p = _init(g, (1, 4, 4, 3))["params"]
  conv5 = p["body_0"]["rdb1"]["conv5"]
  fan_in = 9 * (32 + 4 * 16)
  np.testing.assert_allclose(np.std(conv5["kernel"]), 0.1 * np.sqrt(2 / fan_in), rtol=0.05)
  assert not np.any(conv5["bias"])
  k = p["conv_body"]["kernel"]
  assert np.abs(k).max() <= 1 / np.sqrt(9 * 32) and np.any(p["conv_body"]["bias"])


def test_discriminators_return_one_logit_per_image():
  d = srgan.SRGANDiscriminator(image_size=16, width=4, dense_width=8)
  x = _rand((3, 16, 16, 3))
  assert _apply(d, _init(d, x.shape), x, train=False).shape == (3,)
  d = srgan.VGGStyleDiscriminator(image_size=128, num_feat=2)
  x = _rand((2, 128, 128, 3))
  out, _ = _apply(d, _init(d, x.shape), x, train=True, mutable=["batch_stats"])
  assert out.shape == (2,) and out.dtype == jnp.float32


def test_bf16_networks_run_and_return_float32():
  x = _rand((2, 4, 4, 3))
  for module in (srgan.SRResNet(width=4, num_blocks=1, dtype=jnp.bfloat16),
                 srgan.RRDBNet(num_feat=4, num_block=1, num_grow_ch=2, dtype=jnp.bfloat16)):
    v = _init(module, x.shape)
    y, _ = _apply(module, v, x, train=True, mutable=["batch_stats"])
    assert y.dtype == jnp.float32 and y.shape == (2, 16, 16, 3)
    assert bool(jnp.all(jnp.isfinite(y)))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(v["params"]))
  d = srgan.SRGANDiscriminator(image_size=16, width=4, dense_width=8, dtype=jnp.bfloat16)
  h = _rand((2, 16, 16, 3))
  out, _ = _apply(d, _init(d, h.shape), h, train=True, mutable=["batch_stats"])
  assert out.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out)))


def test_pixel_shuffle_follows_pytorch_channel_order_and_unshuffle_inverts_it():
  x = np.arange(2 * 3 * 4 * 8, dtype=np.float32).reshape(2, 3, 4, 8)  # C = 2 * 2^2
  y = layers.pixel_shuffle(x, 2)
  assert y.shape == (2, 6, 8, 2)
  # torch: out[c, 2h + i, 2w + j] = in[c * 4 + i * 2 + j, h, w]
  assert y[1, 2 * 2 + 1, 2 * 3 + 0, 1] == x[1, 2, 3, 1 * 4 + 1 * 2 + 0]
  np.testing.assert_array_equal(layers.pixel_unshuffle(y, 2), x)


def test_bad_inputs_raise_clear_errors():
  with pytest.raises(ValueError, match="scale"):
    _init(srgan.SRResNet(scale=3, width=4, num_blocks=1), (1, 4, 4, 3))
  with pytest.raises(ValueError, match="16x16"):
    _init(srgan.SRGANDiscriminator(image_size=16, width=4), (1, 24, 24, 3))
  with pytest.raises(ValueError, match="128 or 256"):
    _init(srgan.VGGStyleDiscriminator(image_size=96, num_feat=2), (1, 96, 96, 3))
  with pytest.raises(ValueError, match="channels|images"):
    _init(srgan.RRDBNet(num_feat=4, num_block=1, num_grow_ch=2), (1, 4, 4, 1))
  with pytest.raises(ValueError, match="VGG19 layer"):
    vgg.layer_index("relu6_1")
  with pytest.raises(UsageError, match="pixel_loss"):
    superres_step.SROptions(pixel_loss="l2")
  with pytest.raises(UsageError, match="perceptual_layer"):
    superres_step.SROptions(perceptual_layer="fc7")
  with pytest.raises(UsageError, match="adv_weight"):
    superres_step.SROptions(adv_weight=-1.0)


# --- the step -----------------------------------------------------------------------------


def _gan(kind: str, **option_overrides) -> GANDef:
  o = dataclasses.replace(superres_step.PRESETS[kind], perceptual_width_divisor=VGG_DIV,
                          **option_overrides)
  g = (srgan.SRResNet(width=4, num_blocks=1) if kind == "srgan"
       else srgan.RRDBNet(num_feat=4, num_block=1, num_grow_ch=2))
  d = srgan.SRGANDiscriminator(image_size=16, width=4, dense_width=8)
  return GANDef(generator=g, discriminator=d, g_tx=optax.adam(1e-4, 0.9, 0.99),
                d_tx=optax.adam(1e-4, 0.9, 0.99), d_loss=losses.minimax_d_loss,
                g_loss=losses.non_saturating_g_loss, superres=o)


def _sr_state(gan: GANDef, seed: int = 0) -> GANState:
  return jax.jit(functools.partial(_sr_state_eager, gan, seed))()


def _sr_state_eager(gan: GANDef, seed: int) -> GANState:
  kg, kd, kx, kr = jax.random.split(jax.random.PRNGKey(seed), 4)

  def net(module, key, shape, tx):
    v = module.init(key, jnp.zeros(shape), train=False)
    return NetState(params=v["params"], batch_stats=v.get("batch_stats", {}),
                    opt_state=tx.init(v["params"]))

  return GANState(step=jnp.zeros((), jnp.int32), rng=kr,
                  g=net(gan.generator, kg, (1, 4, 4, 3), gan.g_tx),
                  d=net(gan.discriminator, kd, (1, 16, 16, 3), gan.d_tx),
                  extras=superres_step.init_extras(gan.superres, kx))


def _batches(n=2, batch=8):
  return [{"input": _rand((batch, 4, 4, 3), 2 * s), "image": _rand((batch, 16, 16, 3), 2 * s + 1)}
          for s in range(n)]


def _run(gan, state, batches, num_devices):
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(
      "sharded", functools.partial(superres_step.superres_train_step, gan=gan), mesh)
  s = runner.from_checkpoint(state)
  for b in batches:
    s, m = runner.step(s, b)
  return jax.device_get(runner.to_checkpoint(s)), jax.device_get(runner.host_view(m))


@pytest.mark.parametrize("kind", ["srgan", "esrgan"])
def test_step_under_jit_and_sharded_jit(kind):
  """Finite metrics on one device; eight devices under sharded jit give the same run (the
  batch statistics and the relativistic means are the global batch's)."""
  gan = _gan(kind)
  state = jax.device_get(_sr_state(gan))
  batches = _batches(1)
  one, m1 = _run(gan, state, batches, 1)
  eight, m8 = _run(gan, state, batches, 8)
  want = {"d_loss", "g_loss", "g_total", "g_perceptual", "d_real", "d_fake", "d_grad_norm",
          "g_grad_norm", "d_param_norm", "g_param_norm"}
  want |= {"g_pixel"} if kind == "esrgan" else set()
  assert set(m1) == want
  assert all(np.isfinite(v) for v in m1.values())
  assert int(one.step) == 1
  # The VGG never moves.
  assert jax.tree.all(jax.tree.map(np.array_equal, one.extras, state.extras))
  # Adam's first step moves a weight by lr * g / (|g| + eps): where |g| is near eps the two
  # summation orders can flip its sign (seen on an EPYC, with this and the previous release:
  # 1-2 weights a tensor, 2 * lr apart). Such weights may differ by up to 2 * lr, a few of them.
  lr = 2.5e-4  # above 2 * 1e-4, the configs' learning rate
  for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(one)[0], jax.tree.leaves(eight)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    off = np.abs(a - b) > 2e-5 + 2e-4 * np.abs(b)
    assert off.sum() <= max(2, 0.01 * off.size) and np.all(np.abs(a - b)[off] <= lr), (
        jax.tree_util.keystr(path), int(off.sum()), float(np.abs(a - b).max()))
  np.testing.assert_allclose(m1["d_loss"], m8["d_loss"], rtol=1e-4)


def test_step_refuses_mismatched_batches_and_missing_vgg():
  gan = _gan("srgan")
  state = _sr_state(gan)
  step = functools.partial(superres_step.superres_train_step, gan=gan)
  with pytest.raises(ValueError, match="x4"):
    step(state, {"input": _rand((2, 4, 4, 3)), "image": _rand((2, 12, 12, 3))})
  with pytest.raises(ValueError, match="init_extras"):
    step(state.replace(extras={}), _batches(1, 2)[0])
  x2 = dataclasses.replace(gan, superres=dataclasses.replace(gan.superres, scale=2))
  with pytest.raises(UsageError, match="upsamples x4"):
    superres_step.superres_train_step(state, {"input": _rand((2, 8, 8, 3)),
                                              "image": _rand((2, 16, 16, 3))}, gan=x2)
  rel = dataclasses.replace(gan, g_loss=losses.relativistic_average_g_loss)
  with pytest.raises(UsageError, match="relativistic"):
    superres_step.superres_train_step(state, _batches(1, 2)[0], gan=rel)


def test_pixel_only_pretraining_has_no_vgg():
  gan = _gan("srgan", pixel_loss="mse", perceptual_layer="", adv_weight=0.0)
  state = _sr_state(gan)
  assert state.extras == {}
  _, m = jax.jit(functools.partial(superres_step.superres_train_step, gan=gan))(
      state, _batches(1, 2)[0])
  assert "g_perceptual" not in m
  np.testing.assert_allclose(m["g_total"], m["g_pixel"], rtol=1e-6)


def test_upscale_is_eval_mode():
  gan = _gan("srgan")
  state = _sr_state(gan)
  lr = _rand((3, 4, 4, 3))
  up = jax.jit(functools.partial(superres_step.upscale, gan))
  y = up(state.g.params, state.g.batch_stats, lr)
  assert y.shape == (3, 16, 16, 3)
  # Eval mode: an image's output does not depend on the rest of the batch.
  np.testing.assert_allclose(up(state.g.params, state.g.batch_stats, lr[:1])[0], y[0],
                             rtol=1e-5, atol=1e-6)


def test_init_extras_shapes_and_weight_swap():
  o = superres_step.SROptions(perceptual_layer="conv5_4")
  shapes = jax.eval_shape(lambda: superres_step.init_extras(o, jax.random.PRNGKey(0)))
  n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
  assert n == 20_024_384  # torchvision vgg19 features[:35]
  assert superres_step.init_extras(dataclasses.replace(o, perceptual_layer=""),
                                   jax.random.PRNGKey(0)) == {}
  gan = _gan("srgan")
  state = _sr_state(gan)
  new_vars = jax.tree.map(jnp.ones_like, state.extras["perceptual"])
  swapped = superres_step.with_perceptual_weights(state, new_vars)
  assert all(float(x.min()) == 1.0 for x in jax.tree.leaves(swapped.extras))
  with pytest.raises(ValueError, match="do not match"):
    superres_step.with_perceptual_weights(
        state, vgg.init_variables("conv5_4", jax.random.PRNGKey(0), 8))


def test_load_torchvision_vgg19_reads_a_pth(tmp_path):
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  sd, c = {}, 3
  widths = [w // VGG_DIV for w, n in zip(vgg.WIDTHS, vgg.STAGES) for _ in range(n)]
  for i, w in zip(vgg.CONV_INDICES, widths):
    sd[f"features.{i}.weight"] = torch.tensor(rng.normal(0, 0.1, (w, c, 3, 3)).astype(np.float32))
    sd[f"features.{i}.bias"] = torch.tensor(rng.normal(0, 0.1, (w,)).astype(np.float32))
    c = w
  sd["classifier.0.weight"] = torch.zeros(4, 4)  # ignored, as in the real file
  path = tmp_path / "vgg19.pth"
  torch.save(sd, path)
  v = vgg.load_torchvision_vgg19(str(path), "relu5_4")
  np.testing.assert_array_equal(v["params"]["features_2"]["kernel"],
                                sd["features.2.weight"].numpy().transpose(2, 3, 1, 0))
  out = jax.jit(vgg.VGG19Features("relu5_4", width_divisor=VGG_DIV).apply)(v, _rand((1, 16, 16, 3)))
  assert out.shape == (1, 1, 1, 32)
