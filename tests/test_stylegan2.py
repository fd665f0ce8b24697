"""StyleGAN2: its layers against numpy per-sample references, the path-length formula against
a linear generator's Jacobian, the lazy regularisers' schedule, the step on 1 and 8 devices,
and a CLI run. Tiny variants (16x16, a few channels); 256x256 by shapes only."""

import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import cli, losses
from jaxgan import config as config_lib
from jaxgan.errors import UsageError
from jaxgan.models import layers, stylegan2
from jaxgan.train import build, parallel, steps
from jaxgan.train.state import init_state

from helpers import REPO

CONFIG = os.path.join(REPO, "experiments", "stylegan2_digits.py")
TINY = {"image_size": "16", "model.latent_dim": "16", "model.w_dim": "16",
        "model.channel_base": "128", "model.channel_max": "16", "batch_size": "16"}
F2 = np.outer([1., 3., 3., 1.], [1., 3., 3., 1.]) / 64.0   # the normalised 2-D FIR filter


def random_variables(init, *args):
  """Variables shaped like init(key, *args), ~N(0, 1) from numpy: XLA:CPU compiles the
  per-parameter threefry draws of a real init far more slowly than the networks."""
  shapes = jax.eval_shape(init, jax.random.PRNGKey(0), *args)
  r = np.random.default_rng(0)
  return jax.tree.map(lambda s: r.normal(size=s.shape).astype(s.dtype), shapes)


def tiny_config(**overrides):
  c = config_lib.load_config_file(CONFIG)
  config_lib.apply_overrides(c, {**TINY, **{k: str(v) for k, v in overrides.items()}})
  return c


# --- numpy references ---------------------------------------------------------------------------

def np_correlate(x, w, stride=1):
  """VALID cross-correlation, x (B, H, W, I), w (k, k, I, O), by explicit loops over taps."""
  k = w.shape[0]
  ho, wo = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
  y = np.zeros((x.shape[0], ho, wo, w.shape[3]))
  for i in range(k):
    for j in range(k):
      patch = x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
      y += patch @ w[i, j]
  return y


def np_pad(x, p0, p1):
  return np.pad(x, ((0, 0), (p0, p1), (p0, p1), (0, 0)))


def np_upfirdn(x, up=1, down=1, pad=(0, 0), gain=1.0):
  """NVIDIA's upfirdn2d semantics with the 2-D filter: zero-insert, pad, convolve, subsample."""
  b, h, w, c = x.shape
  u = np.zeros((b, h * up, w * up, c))
  u[:, ::up, ::up] = x
  u = np_pad(u, *pad)
  f = (F2 * gain)[::-1, ::-1]  # convolution
  y = np.stack([np_correlate(u[..., ci:ci + 1], f[:, :, None, None])[..., 0] for ci in range(c)], -1)
  return y[:, ::down, ::down]


def np_modconv(x, w, s, demod=True, up=False):
  """Per-sample modulated (and demodulated) weights, then a 'same' conv (or NVIDIA's generic
  up-conv: FIR upsampling padded (3, 2), then a VALID conv)."""
  out = []
  for b in range(x.shape[0]):
    wb = w * s[b][None, None, :, None]
    if demod:
      wb = wb / np.sqrt(np.sum(wb ** 2, axis=(0, 1, 2)) + 1e-8)
    xb = x[b:b + 1]
    xb = np_upfirdn(xb, up=2, pad=(3, 2), gain=4.0) if up else np_pad(xb, w.shape[0] // 2, w.shape[0] // 2)
    out.append(np_correlate(xb, wb)[0])
  return np.stack(out)


def lrelu(x):
  return np.where(x >= 0, x, 0.2 * x) * np.sqrt(2.0)


# --- layers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("demod,up,k", [(True, False, 3), (False, False, 1), (True, True, 3)])
def test_modulated_conv_equals_per_sample_weights(demod, up, k):
  r = np.random.default_rng(0)
  x, w, s = r.normal(size=(2, 5, 5, 3)), r.normal(size=(k, k, 3, 4)), r.normal(size=(2, 3)) + 1
  got = jax.jit(functools.partial(layers.modulated_conv, demodulate=demod, up=up))(
      jnp.float32(x), jnp.float32(w), jnp.float32(s))
  np.testing.assert_allclose(got, np_modconv(x, w, s, demod, up), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", ["slices", "conv"])
def test_fir_resampling_equals_numpy_upfirdn(impl):
  x = np.random.default_rng(1).normal(size=(2, 6, 6, 3))
  up = functools.partial(layers.upfirdn_2d, up=2, pad=(2, 1), gain=4.0, impl=impl)
  np.testing.assert_allclose(up(jnp.float32(x)), np_upfirdn(x, up=2, pad=(2, 1), gain=4.0),
                             rtol=1e-5, atol=1e-5)
  down = functools.partial(layers.upfirdn_2d, down=2, pad=(1, 1), impl=impl)
  np.testing.assert_allclose(down(jnp.float32(x)), np_upfirdn(x, down=2, pad=(1, 1)),
                             rtol=1e-5, atol=1e-5)


def test_upsample_of_an_impulse_and_of_a_constant():
  x = np.zeros((1, 4, 4, 1), np.float32)
  x[0, 1, 2, 0] = 1.0
  y = np.asarray(layers.upsample_2d(jnp.asarray(x)))[0, :, :, 0]
  expect = np.zeros((8, 8))
  expect[1:5, 3:7] = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16.0   # rows 2i-1..2i+2
  np.testing.assert_allclose(y, expect, atol=1e-7)
  ones = jnp.full((1, 8, 8, 2), 0.7)
  np.testing.assert_allclose(layers.upsample_2d(ones)[0, 2:-2, 2:-2], 0.7, rtol=1e-6)
  down = layers.upfirdn_2d(ones, down=2, pad=(1, 1))
  assert down.shape == (1, 4, 4, 2)
  np.testing.assert_allclose(down[0, 1:-1, 1:-1], 0.7, rtol=1e-6)


def test_conv_down_equals_nvidia_generic_order():
  """FIR then stride-2 conv equals pad, conv, then FIR + subsample (filter after the conv)."""
  r = np.random.default_rng(2)
  x, w = r.normal(size=(2, 8, 8, 3)), r.normal(size=(3, 3, 3, 4))
  ref = np_upfirdn(np_correlate(np_pad(x, 2, 2), w), down=2)
  np.testing.assert_allclose(layers.conv_down_2d(jnp.float32(x), jnp.float32(w)), ref,
                             rtol=1e-4, atol=1e-4)
  w1 = r.normal(size=(1, 1, 3, 4))
  ref1 = np_correlate(np_upfirdn(x, down=2, pad=(1, 1)), w1)
  np.testing.assert_allclose(layers.conv_down_2d(jnp.float32(x), jnp.float32(w1)), ref1,
                             rtol=1e-4, atol=1e-4)


def test_equalized_lr_runtime_scaling():
  x = np.random.default_rng(3).normal(size=(5, 64)).astype(np.float32)
  dense = layers.EqualizedDense(32, lr_mul=0.01, bias_init=2.0, act=True)
  v = dense.init(jax.random.PRNGKey(0), x)
  w, b = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
  assert abs(w.std() - 100.0) < 5.0 and np.all(b == 2.0)   # stored ~N(0, 1) / lr_mul
  ref = lrelu(x @ (w * 0.01 / 8.0) + b * 0.01)
  np.testing.assert_allclose(dense.apply(v, x), ref, rtol=1e-5, atol=1e-5)
  conv = layers.EqualizedConv(4, 3, act=False)
  xi = np.random.default_rng(4).normal(size=(2, 5, 5, 3)).astype(np.float32)
  cv = conv.init(jax.random.PRNGKey(1), xi)
  cv = jax.tree.map(lambda p: p + 0.5, cv)   # a non-zero bias
  k = np.asarray(cv["params"]["kernel"])
  ref = np_correlate(np_pad(xi, 1, 1), k / np.sqrt(27.0)) + 0.5
  np.testing.assert_allclose(conv.apply(cv, xi, gain=1.0), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("group,channels", [(4, 1), (2, 2)])
def test_minibatch_stddev_equals_numpy(group, channels):
  x = np.random.default_rng(5).normal(size=(8, 3, 3, 6)).astype(np.float32)
  got = np.asarray(layers.minibatch_stddev(jnp.asarray(x), group, channels))
  assert got.shape == (8, 3, 3, 6 + channels)
  np.testing.assert_array_equal(got[..., :6], x)
  for i in range(8):
    members = x[(i // group) * group:(i // group + 1) * group]           # consecutive groups
    for f in range(channels):
      sl = members[..., f * (6 // channels):(f + 1) * (6 // channels)]
      expect = np.mean(np.sqrt(np.var(sl, axis=0) + 1e-8))
      np.testing.assert_allclose(got[i, :, :, 6 + f], expect, rtol=1e-5)


# --- networks -----------------------------------------------------------------------------------

def test_shapes_at_32_and_256():
  c = tiny_config(image_size=32, channels=3)
  gan = build.build_gan(c)
  z = jnp.zeros((4, 16))
  g_vars = random_variables(gan.generator.init, z)
  img = jax.jit(lambda v, k: gan.generator.apply(v, z, noise_keys=jax.random.split(k, 4)))(
      g_vars, jax.random.PRNGKey(1))
  assert img.shape == (4, 32, 32, 3) and img.dtype == jnp.float32
  assert np.all(np.isfinite(img)) and np.std(img) > 0
  d_vars = random_variables(gan.discriminator.init, img)
  logits = jax.jit(gan.discriminator.apply)(d_vars, img)
  assert logits.shape == (4,) and np.all(np.isfinite(logits))
  big = config_lib.load_config_file(os.path.join(REPO, "experiments", "stylegan2_ffhq256.py"))
  g256 = build.build_gan(big)
  G, D = g256.generator, g256.discriminator
  assert G.num_ws == 14
  gv = jax.eval_shape(G.init, jax.random.PRNGKey(0), jnp.zeros((2, 512)))
  out = jax.eval_shape(lambda v: G.apply(v, jnp.zeros((2, 512))), gv)
  assert out.shape == (2, 256, 256, 3)
  syn = gv["params"]["synthesis"]
  assert syn["const"].shape == (4, 4, 512) and syn["b256_conv1"]["kernel"].shape == (3, 3, 64, 64)
  assert syn["b64_conv0"]["kernel"].shape == (3, 3, 512, 256)    # 16384 // 64 = 256
  assert set(gv["params"]["mapping"]) == {"fc0", "fc1"}
  dv = jax.eval_shape(D.init, jax.random.PRNGKey(0), jnp.zeros((4, 256, 256, 3)))
  assert jax.eval_shape(lambda v: D.apply(v, jnp.zeros((4, 256, 256, 3))), dv).shape == (4,)
  assert dv["params"]["b4_conv"]["kernel"].shape == (3, 3, 513, 512)  # + the stddev channel


def test_style_mixing_cutoff_and_w_avg():
  c = tiny_config()
  G = build.build_gan(c).generator
  v = random_variables(G.init, jnp.zeros((1, 16)))
  v["batch_stats"]["w_avg"] = np.zeros(16, np.float32)
  z1, z2 = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 16))
  ws, m = jax.jit(lambda v: G.apply(v, z1, True, z2, jnp.array([1, 3, G.num_ws]), method="map",
                                    mutable=["batch_stats"]))(v)
  w1, w2 = (jax.jit(lambda v, z: G.apply(v, z, method="map")[:, 0])(v, z) for z in (z1, z2))
  for b, cut in enumerate((1, 3, G.num_ws)):
    np.testing.assert_allclose(ws[b, :cut], np.broadcast_to(w1[b], (cut, 16)), atol=1e-6)
    np.testing.assert_allclose(ws[b, cut:], np.broadcast_to(w2[b], (G.num_ws - cut, 16)), atol=1e-6)
  np.testing.assert_allclose(m["batch_stats"]["w_avg"], (1 - 0.995) * np.mean(w1, 0), rtol=1e-4,
                             atol=1e-7)


def test_bad_config_is_a_usage_error():
  with pytest.raises(UsageError, match="power of two"):
    build.build_gan(tiny_config(image_size=24))
  with pytest.raises(UsageError, match="its own lazy R1"):
    build.build_gan(tiny_config(penalty="r1"))
  with pytest.raises(UsageError, match="unknown stylegan2 options"):
    c = tiny_config()
    c.stylegan2.r1_gama = 1.0
    build.build_gan(c)


# --- regularisers -------------------------------------------------------------------------------

def test_path_length_penalty_on_a_linear_generator():
  """g(ws) = ws . A: J^T y = A y exactly; lengths, running mean and penalty by hand."""
  r = np.random.default_rng(6)
  b, n, w, hw = 3, 2, 4, (2, 2, 1)
  A = r.normal(size=(n, w, 4)).astype(np.float32)
  ws = r.normal(size=(b, n, w)).astype(np.float32)
  y = (r.normal(size=(b, *hw)) / 2.0).astype(np.float32)
  synth = lambda v: jnp.einsum("bnw,nwp->bp", v, A).reshape(b, *hw)
  grads = losses.path_length_grads(synth, jnp.asarray(ws), jnp.asarray(y))
  ref_grads = np.einsum("nwp,bp->bnw", A, y.reshape(b, -1))
  np.testing.assert_allclose(grads, ref_grads, rtol=1e-5, atol=1e-6)
  lengths = losses.path_lengths(grads)
  ref_len = np.sqrt(np.mean(np.sum(ref_grads ** 2, axis=2), axis=1))
  np.testing.assert_allclose(lengths, ref_len, rtol=1e-5)
  pen, new_mean = losses.path_length_penalty(lengths, jnp.float32(0.5), 0.01)
  ref_mean = 0.5 + 0.01 * (ref_len.mean() - 0.5)
  np.testing.assert_allclose(new_mean, ref_mean, rtol=1e-6)
  np.testing.assert_allclose(pen, (ref_len - ref_mean) ** 2, rtol=1e-5)


def test_lazy_adam_correction():
  gan = build.build_gan(tiny_config())
  # One Adam step from zero state: update = -lr * g / (|g| + eps) (b1 = 0): the lr is lr * 16/17.
  p = {"x": jnp.ones(())}
  upd, _ = gan.d_tx.update({"x": jnp.float32(3.0)}, gan.d_tx.init(p), p)
  np.testing.assert_allclose(upd["x"], -0.0025 * 16 / 17, rtol=1e-5)
  upd, _ = gan.g_tx.update({"x": jnp.float32(3.0)}, gan.g_tx.init(p), p)
  np.testing.assert_allclose(upd["x"], -0.0025 * 4 / 5, rtol=1e-5)
  assert gan.ema_decay == pytest.approx(0.5 ** (16 / (32 * 10 / 32 * 1000)))


# --- the step -----------------------------------------------------------------------------------

def _images(step, n=16):
  return np.random.default_rng(step).uniform(-1, 1, (n, 16, 16, 1)).astype(np.float32)


def _run(num_devices, num_steps, state=None):
  """Sharded-jit steps on the first `num_devices` devices from `state` (default: a fresh init)."""
  c = tiny_config()
  gan = build.build_gan(c)
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel("sharded", functools.partial(steps.gan_train_step, gan=gan), mesh)
  if state is None:
    state = runner.init(functools.partial(init_state, gan, c.seed, build.image_shape(c)))
  else:
    state = jax.device_put(state, parallel.replicated(mesh))
  metrics, snapshots = [], {}
  for s in range(num_steps):
    state, m = runner.step(state, {"image": _images(s)})
    metrics.append(jax.device_get(m))
    if s + 1 in (3, num_steps):
      snapshots[s + 1] = jax.device_get(state)
  return snapshots, metrics, runner._step._cache_size()


def synthetic_state(gan, c):
  """A GANState shaped like init_state's without compiling it (see random_variables):
  parameters ~N(0, 1) (G's EMA a copy), optimizer moments and statistics 0, counters 0."""
  shapes = jax.eval_shape(functools.partial(init_state, gan, c.seed, build.image_shape(c)))
  r = np.random.default_rng(0)
  params = lambda tree: jax.tree.map(lambda x: r.normal(size=x.shape).astype(x.dtype), tree)
  zeros = lambda tree: jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), tree)
  g, d = (net.replace(params=params(net.params), batch_stats=zeros(net.batch_stats),
                      opt_state=zeros(net.opt_state)) for net in (shapes.g, shapes.d))
  return shapes.replace(step=np.int32(0), rng=np.asarray(jax.random.PRNGKey(c.seed)), g=g, d=d,
                        g_ema=jax.tree.map(np.copy, g.params), extras=zeros(shapes.extras))


@pytest.fixture(scope="module")
def initial_state():
  c = tiny_config()
  return synthetic_state(build.build_gan(c), c)


@pytest.fixture(scope="module")
def one_device(initial_state):
  return _run(1, 18, initial_state)


def _adam_count(opt_state):
  return int(next(x for x in jax.tree.leaves(opt_state) if np.ndim(x) == 0))


def test_lazy_regularisers_run_exactly_on_their_steps(one_device):
  snaps, metrics, compiles = one_device
  assert compiles == 1   # the lazy branches are lax.cond: no recompilation
  for s, m in enumerate(metrics):
    assert m["r1_applied"] == float(s % 16 == 0) and m["pl_applied"] == float(s % 4 == 0), s
    assert (m["r1_penalty"] > 0) == (s % 16 == 0) and (m["pl_penalty"] > 0) == (s % 4 == 0), s
    if s % 4:
      assert m["pl_mean"] == metrics[s - 1]["pl_mean"]
    assert all(np.isfinite(v) for v in m.values())
  state = snaps[18]
  # Each reg phase is an extra optimizer update: D at steps 0 and 16, G at 0, 4, 8, 12, 16.
  assert _adam_count(state.d.opt_state) == 18 + 2
  assert _adam_count(state.g.opt_state) == 18 + 5
  assert int(state.step) == 18 and float(state.extras["pl_mean"]) == metrics[-1]["pl_mean"] > 0
  assert np.any(state.g.batch_stats["w_avg"] != 0) and state.g_ema


@pytest.mark.slow  # a second compilation of the step (about a minute on 2 cores)
def test_eight_devices_equal_one(one_device, initial_state):
  snaps, ref_metrics, _ = one_device
  eight, metrics, compiles = _run(8, 3, initial_state)
  assert compiles == 1
  for m, r in zip(metrics, ref_metrics):
    for k in ("d_loss", "g_loss", "r1_penalty", "pl_penalty", "pl_mean"):
      np.testing.assert_allclose(m[k], r[k], rtol=1e-4, atol=1e-6)
  # Per tensor ||x_8 - x_1|| / ||x_1|| (as test_zoo_step.py): Adam with b1 = 0 turns round-off
  # in near-zero gradients into lr-sized steps, so elementwise ratios would be unfair.
  nets = lambda s: (s.g.params, s.d.params, s.g_ema, s.g.batch_stats)
  diffs = [float(np.linalg.norm(x - y) / np.linalg.norm(y))
           for x, y in zip(jax.tree.leaves(nets(eight[3])), jax.tree.leaves(nets(snaps[3])))
           if np.linalg.norm(y) > 1e-2]
  assert max(diffs) < 1e-3, max(diffs)


@pytest.mark.slow  # the data pipeline and the loop's own compilations
def test_cli_trains_and_writes_a_checkpoint(tmp_path, tfds_dir):
  workdir = tmp_path / "run"
  overrides = [f"--config.{k}={v}" for k, v in TINY.items()]
  assert cli.main(["train", "--config", CONFIG, "--workdir", str(workdir),
                   f"--config.data_dir={tfds_dir}", "--config.progress_bar=false", *overrides,
                   "--config.num_train_steps=2", "--config.log_every_steps=1",
                   "--config.sample_every_steps=2", "--config.checkpoint_every_steps=2",
                   "--config.num_samples=4"]) == 0
  from jaxgan.train import checkpoint
  assert checkpoint.latest_step(str(workdir)) == 2


def test_checkpoints_from_before_extras_still_restore(tmp_path):
  """GANState.extras (StyleGAN2's pl_mean) is new: a checkpoint without it restores, extras {}."""
  import dataclasses
  import orbax.checkpoint as ocp
  from helpers import tiny_config as dcgan_tiny
  from jaxgan.train import checkpoint
  c = dcgan_tiny("")
  state = synthetic_state(build.build_gan(c), c)
  old = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != "extras"}
  with ocp.CheckpointManager(str(tmp_path / "checkpoints")) as m:
    m.save(3, args=ocp.args.StandardSave(old))
    m.wait_until_finished()
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
  restored = checkpoint.Checkpointer(str(tmp_path)).restore(target, 3)
  assert restored.extras == {}
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    np.testing.assert_array_equal(a, b)


def test_bfloat16_reaches_every_convolution():
  # compute_dtype=bfloat16 must reach G's and D's convolutions (parameters stay float32).
  from test_zoo_models import _conv_input_dtypes
  g = stylegan2.Generator(image_size=16, latent_dim=8, w_dim=8, mapping_layers=2,
                          channel_base=64, channel_max=16, dtype=jnp.bfloat16)
  d = stylegan2.Discriminator(image_size=16, channel_base=64, channel_max=16, dtype=jnp.bfloat16)
  z = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
  gv = g.init(jax.random.PRNGKey(1), z)
  x = g.apply(gv, z)
  dv = d.init(jax.random.PRNGKey(2), x)
  for fn, arg in ((lambda z: g.apply(gv, z), z), (lambda x: d.apply(dv, x), x)):
    dtypes = _conv_input_dtypes(fn, arg)
    assert dtypes and all(t == jnp.bfloat16 for t in dtypes), dtypes
  assert x.dtype == jnp.float32 and d.apply(dv, x).dtype == jnp.float32
