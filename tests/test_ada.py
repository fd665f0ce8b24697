"""ADA (jaxgan.ada): the pipeline against NVIDIA's AugmentPipe (a stored fixture, made by
tests/fixtures/make_ada_fixture.py), exactness at p = 0 and for integer shifts (numpy
references), flips and quarter turns up to the wavelet's phase, the sampling
probabilities, the p update, and the StyleGAN2 step with ADA: unchanged at p = 0, p
adjusted on its interval, the same on 8 pmap devices as on one."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erfinv

from jaxgan import ada
from jaxgan.errors import UsageError
from jaxgan.train import build, parallel, steps

from helpers import REPO
from test_stylegan2 import synthetic_state, tiny_config

FIXTURE = os.path.join(REPO, "tests", "fixtures", "ada_reference.npz")


def values(n, pipe=None, **given):
  """ADA values for n examples: IDENTITY except `given` (broadcast per example); with
  `pipe`, only its transforms keep their given values (as sample() would draw them)."""
  out = {}
  for name, identity in ada.IDENTITY.items():
    v = given.get(name, identity)
    if pipe is not None and ada.TRANSFORM_OF.get(name, name) not in pipe.transforms:
      v = identity
    shape = (n, ada.WIDTHS[name]) if name in ada.WIDTHS else (n,)
    dtype = jnp.int32 if name == "noise_seed" else jnp.float32
    out[name] = jnp.broadcast_to(jnp.asarray(v, dtype), shape)
  return out


def nvidia_debug_values(q: float) -> dict:
  """The draws AugmentPipe(debug_percentile=q) uses: every transform on, the rotation after
  the anisotropic scaling 0, and its 'normal' values erfinv(2q - 1) (without sqrt 2)."""
  e = float(erfinv(2 * q - 1))
  return dict(xflip=np.floor(2 * q), rotate90=np.floor(4 * q), xint=(2 * q - 1) * ada.XINT_MAX,
              scale=2 ** (e * ada.SCALE_STD), rotate_pre=(2 * q - 1) * np.pi,
              aniso=2 ** (e * ada.ANISO_STD), rotate_post=0.0, xfrac=e * ada.XFRAC_STD,
              brightness=e * ada.BRIGHTNESS_STD, contrast=2 ** (e * ada.CONTRAST_STD),
              lumaflip=np.floor(2 * q), hue=(2 * q - 1) * np.pi,
              saturation=2 ** (e * ada.SATURATION_STD),
              imgfilter=2 ** (e * ada.IMGFILTER_STD), cutout=ada.CUTOUT_SIZE, cutout_center=q)


def images(shape, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


# --- the pipeline ---------------------------------------------------------------------------

def test_sym6_is_an_orthogonal_lowpass():
  h = np.asarray(ada.SYM6)
  assert h.sum() == pytest.approx(np.sqrt(2), abs=1e-12)
  for shift in range(0, len(h), 2):  # orthonormal under even shifts: perfect reconstruction
    assert np.dot(h[:len(h) - shift], h[shift:]) == pytest.approx(float(shift == 0), abs=1e-12)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", ["blit", "geom", "color", "bgc"])
def test_matches_nvidia_augment_pipe(name, channels):
  ref = np.load(FIXTURE)
  x = ref[f"input_c{channels}"]
  pipe = ada.AugmentPipe.from_name(name)
  for q in ref["percentiles"]:
    got = pipe.apply(jnp.asarray(x), values(len(x), pipe, **nvidia_debug_values(float(q))))
    np.testing.assert_allclose(got, ref[f"{name}_c{channels}_q{q}"], atol=5e-5,
                               err_msg=f"q={q}")


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", ["filter", "cutout", "bgcfc"])
def test_image_space_matches_nvidia_augment_pipe(name, channels):
  """Filtering and cutout (and both after bgc) on 32x40 images; noise is random in their
  debug mode too and is checked against its formula below instead."""
  ref = np.load(FIXTURE)
  x = ref[f"input_big_c{channels}"]
  pipe = ada.AugmentPipe(ada.PIPES["bgc"] + ("imgfilter", "cutout")) if name == "bgcfc" \
      else ada.AugmentPipe.from_name(name)
  for q in ref["percentiles"]:
    got = pipe.apply(jnp.asarray(x), values(len(x), pipe, **nvidia_debug_values(float(q))))
    np.testing.assert_allclose(got, ref[f"{name}_c{channels}_q{q}"], atol=5e-5,
                               err_msg=f"q={q}")


def test_filter_bank_and_gains():
  bank = ada.filter_bank()
  assert bank.shape == (4, 43)
  impulse = np.zeros(43)
  impulse[21] = 1
  np.testing.assert_allclose(bank.sum(0), impulse, atol=1e-12)  # unit gains: identity
  np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-12)    # zero phase
  # Octave bands: band 0 passes DC only, band 3 the highest frequencies.
  response = np.abs(np.fft.rfft(bank, 256, axis=1))
  assert np.argmax(response[:, 0]) == 0 and np.argmax(response[:, -1]) == 3
  # The gains: NVIDIA's normalisation done band after band, written out here.
  t = np.random.default_rng(0).uniform(0.3, 3.0, (5, 4))
  power = np.asarray(ada.BAND_POWER)
  want = np.ones((5, 4))
  for i in range(4):
    step = np.ones((5, 4))
    step[:, i] = t[:, i]
    want *= step / np.sqrt((power * step ** 2).sum(1, keepdims=True))
  np.testing.assert_allclose(ada.band_gains(jnp.asarray(t, jnp.float32)), want, rtol=1e-5)


def test_noise_is_its_seeds_gaussian_field_and_cutout_a_rectangle():
  x = images((3, 10, 12, 3))
  pipe = ada.AugmentPipe.from_name("noise")
  v = values(3, pipe, noise=np.array([0.0, 0.1, 0.3]), noise_seed=np.array([5, 6, 7]))
  got = np.asarray(pipe.apply(jnp.asarray(x), v))
  np.testing.assert_array_equal(got[0], x[0])
  for i, (sigma, seed) in enumerate(((0.1, 6), (0.3, 7)), start=1):
    field = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (10, 12, 3)))
    np.testing.assert_allclose(got[i], x[i] + sigma * field, atol=1e-6)
  pipe = ada.AugmentPipe.from_name("cutout")
  v = values(2, pipe, cutout=np.array([0.5, 0.0]), cutout_center=np.array([[0.25, 0.5], [0.5, 0.5]]))
  got = np.asarray(pipe.apply(jnp.asarray(x[:2]), v))
  # Centre (0.25 W, 0.5 H), half-size (3, 2.5) pixels: the pixels whose centres lie
  # strictly inside, columns 0..5 (centres 0.5..5.5 of 0 < c < 6) and rows 3..6
  # (3.5..6.5 of 2.5 < c < 7.5).
  hole = np.zeros((10, 12), bool)
  hole[3:7, 0:6] = True
  np.testing.assert_array_equal(got[0], np.where(hole[..., None], 0.0, x[0]))
  np.testing.assert_array_equal(got[1], x[1])


@pytest.mark.parametrize("channels", [3, 1])
def test_p0_is_exactly_the_identity(channels):
  x = images((4, 24, 28, channels))
  pipe = ada.AugmentPipe.from_name("bgcfnc")
  drawn = pipe.sample(jax.random.PRNGKey(0), 4, 0.0)
  for name, v in drawn.items():
    if name in ("noise_seed", "cutout_center"):  # drawn always; used only with their gates
      continue
    np.testing.assert_array_equal(v, np.full(v.shape, ada.IDENTITY[name]), err_msg=name)
  np.testing.assert_allclose(pipe.apply(jnp.asarray(x), drawn), x, atol=2e-6)


def test_integer_shifts_are_exact_and_flips_close():
  pipe = ada.AugmentPipe.from_name("blit")
  apply = lambda x, **v: np.asarray(pipe.apply(jnp.asarray(x), values(1, **v)))
  x = images((1, 10, 10, 3))
  # A shift of (+3, -2) pixels, 2 per pixel once upsampled: exact, reading the reflection
  # beyond the border (NVIDIA pads so).
  shifted = np.pad(x, ((0, 0), (2, 2), (3, 3), (0, 0)), mode="reflect")[:, 4:14, 0:10]
  np.testing.assert_allclose(apply(x, xint=[0.3, -0.2]), shifted, atol=2e-6)
  # sym6 is not symmetric, so a flip or quarter turn between its up- and downsampling is
  # the numpy one only up to the filter's phase: close on a smooth image (not on noise).
  yy, xx = np.mgrid[0:16, 0:16] / 16.0
  smooth = (np.cos(2 * np.pi * (0.7 * xx + 0.3 * yy)) * np.sin(np.pi * yy))[None, ..., None]
  np.testing.assert_allclose(apply(smooth, xflip=1.0), smooth[:, :, ::-1], atol=0.05)
  for k in (1, 2, 3):
    np.testing.assert_allclose(apply(smooth, rotate90=float(k)), np.rot90(smooth, k, axes=(1, 2)),
                               atol=0.05)


def test_gradient_through_a_shift_is_the_adjoint_shift():
  """R1 differentiates D(augment(x)) at x: through the pipeline's filters and sampling."""
  x = jnp.asarray(images((1, 8, 8, 1)))
  w = np.zeros((1, 8, 8, 1), np.float32)
  w[0, 2:6, 3:7] = images((4, 4, 1), seed=1)  # away from the border: no reflected reads
  pipe = ada.AugmentPipe.from_name("bg")
  grad = jax.grad(lambda im: jnp.sum(w * pipe.apply(im, values(1, xint=[0.125, 0.25]))))(x)
  np.testing.assert_allclose(grad, np.roll(w, (-2, -1), axis=(1, 2)), atol=2e-6)


def test_sampling_probabilities():
  n, p = 20000, 0.3
  drawn = ada.AugmentPipe.from_name("bgc").sample(jax.random.PRNGKey(1), n, p)
  changed = lambda name: float(np.mean(np.any(
      np.asarray(drawn[name]).reshape(n, -1) != ada.IDENTITY[name], axis=1)))
  for name in ("xint", "scale", "aniso", "xfrac", "brightness", "contrast", "hue", "saturation"):
    assert changed(name) == pytest.approx(p, abs=0.015), name
  assert changed("xflip") == pytest.approx(p / 2, abs=0.015)        # half the draws are 0
  assert changed("rotate90") == pytest.approx(p * 3 / 4, abs=0.015)
  rotated = np.mean((np.asarray(drawn["rotate_pre"]) != 0) | (np.asarray(drawn["rotate_post"]) != 0))
  assert rotated == pytest.approx(p, abs=0.015)                     # pre or post, together p
  assert changed("rotate_pre") == pytest.approx(1 - np.sqrt(1 - p), abs=0.015)
  full = ada.AugmentPipe.from_name("bgcfnc").sample(jax.random.PRNGKey(2), n, p)
  bands = np.asarray(full["imgfilter"]) != 1.0
  np.testing.assert_allclose(bands.mean(0), p, atol=0.015)           # each band on its own
  assert np.mean(np.all(bands, axis=1)) == pytest.approx(p ** 4, abs=0.005)
  for name in ("noise", "cutout"):
    assert np.mean(np.asarray(full[name]) != 0) == pytest.approx(p, abs=0.015), name
  assert np.unique(np.asarray(full["cutout"])).tolist() == [0.0, ada.CUTOUT_SIZE]
  assert np.std(np.asarray(full["noise"])[np.asarray(full["noise"]) > 0]) == pytest.approx(
      ada.NOISE_STD * np.sqrt(1 - 2 / np.pi), rel=0.05)              # |N(0, 0.1)|'s std
  # A pipeline draws only its own transforms.
  colour_only = ada.AugmentPipe.from_name("color").sample(jax.random.PRNGKey(1), 100, 1.0)
  assert np.all(np.asarray(colour_only["scale"]) == 1) and np.all(np.asarray(colour_only["xint"]) == 0)
  assert np.mean(np.asarray(colour_only["brightness"]) != 0) == 1.0


def test_adjust_p():
  # 16 images x 4 steps at kimg 500: a step of 64 / 500000.
  up = ada.adjust_p(jnp.float32(0.25), jnp.float32(0.7), target=0.6, images=64, kimg=500)
  down = ada.adjust_p(jnp.float32(0.25), jnp.float32(0.5), target=0.6, images=64, kimg=500)
  floor = ada.adjust_p(jnp.float32(0.0), jnp.float32(-1.0), target=0.6, images=64, kimg=500)
  assert float(up) == pytest.approx(0.25 + 64 / 5e5) and float(down) == pytest.approx(0.25 - 64 / 5e5)
  assert float(floor) == 0.0


def test_unknown_pipeline_and_bad_settings_are_refused():
  with pytest.raises(UsageError, match="unknown ADA pipeline 'bgcfx'"):
    ada.AugmentPipe.from_name("bgcfx")
  for field, value, message in (("augment_pipe", "xyz", "unknown stylegan2.augment_pipe"),
                                ("ada_target", 1.5, "ada_target must be in"),
                                ("ada_interval", 0, "ada_interval must be"),
                                ("augment_p", -0.1, "augment_p must be")):
    c = tiny_config()
    c.stylegan2.augment_pipe = "bgc"
    c.stylegan2[field] = value
    with pytest.raises(UsageError, match=message):
      build.build_gan(c)


# --- the StyleGAN2 step with ADA ----------------------------------------------------------------

def _images(step, n=16):
  return np.random.default_rng(step).uniform(-1, 1, (n, 16, 16, 1)).astype(np.float32)


def _train(num_steps, kind="sharded", num_devices=1, **stylegan2):
  """(metrics per step, final state, compilations) of `num_steps` steps of the tiny StyleGAN2
  with these `stylegan2` options, from the same synthetic weights."""
  c = tiny_config()
  c.stylegan2.update(stylegan2)
  gan = build.build_gan(c)
  state = synthetic_state(gan, c)
  state = state.replace(extras={**state.extras, **{k: np.float32(v) for k, v in
                                                 build_extras(gan).items()}})
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(kind, functools.partial(steps.gan_train_step, gan=gan), mesh)
  state = (runner.from_checkpoint(state) if kind == "pmap"
           else jax.device_put(state, parallel.replicated(mesh)))
  metrics = []
  for s in range(num_steps):
    state, m = runner.step(state, {"image": _images(s)})
    metrics.append(jax.device_get(runner.host_view(m)))
  compiles = runner._step._cache_size() if kind == "sharded" else None  # pmap keeps no count
  return metrics, jax.device_get(runner.host_view(state)), compiles


def build_extras(gan):
  from jaxgan.train.stylegan2_step import init_ada_extras
  return jax.device_get(init_ada_extras(gan.stylegan2))


# Every transform NVIDIA's pipeline has; 16 images x 2 steps / 320: p moves by 0.1 per interval.
ADAPTIVE = dict(augment_pipe="bgcfnc", augment_p=0.5, ada_target=0.6, ada_interval=2,
                ada_kimg=0.32)


@pytest.fixture(scope="module")
def adaptive_run():
  return _train(6, **ADAPTIVE)


def _rt(rows) -> float:
  """NVIDIA's r_t over an interval's metric rows: the mean sign of every real logit, D
  main's each step and R1's on the steps R1 ran."""
  signs = sum(m["d_real_sign"] + m["d_real_sign_r1"] for m in rows)
  return signs / sum(1 + m["r1_applied"] for m in rows)


def test_p_follows_the_sign_of_real_logits(adaptive_run):
  metrics, state, compiles = adaptive_run
  assert compiles == 1
  assert metrics[0]["r1_applied"] == 1  # step 0 runs R1: its reals join the statistic
  assert all(m["d_real_sign_r1"] == 0 for m in metrics if not m["r1_applied"])
  p, expected = 0.5, []
  for s, m in enumerate(metrics):
    expected.append(p)
    if s % 2 == 1:  # the end of an interval of 2 steps
      p = max(p + np.sign(_rt(metrics[s - 1:s + 1]) - 0.6) * 0.1, 0.0)
  np.testing.assert_allclose([m["ada_p"] for m in metrics], expected, atol=1e-6)
  assert float(state.extras["ada_p"]) == pytest.approx(p, abs=1e-6)
  assert float(state.extras["ada_count"]) == 0 and float(state.extras["ada_signs"]) == 0
  assert all(np.isfinite(v) for m in metrics for v in m.values())


def test_p0_leaves_the_step_unchanged():
  """Nothing of the pipeline leaks when p = 0: the step with ADA on equals the step without."""
  plain, plain_state, _ = _train(2)
  off, off_state, _ = _train(2, augment_pipe="bgc", augment_p=0.0)
  for a, b in zip(plain, off):
    for k in ("d_loss", "g_loss", "r1_penalty", "pl_penalty"):
      np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6)
  for x, y in zip(jax.tree.leaves(off_state.d.params), jax.tree.leaves(plain_state.d.params)):
    np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-5)


@pytest.mark.slow  # a pmap compilation of the step
def test_four_pmap_devices_equal_one(adaptive_run):
  # 4 per device: minibatch-stddev groups (4) stay whole on a device, as on one.
  ref, ref_state, _ = adaptive_run
  metrics, state, _ = _train(6, kind="pmap", num_devices=4, **ADAPTIVE)
  for m, r in zip(metrics, ref):
    for k in ("d_loss", "g_loss", "d_real_sign", "d_real_sign_r1", "ada_p"):
      np.testing.assert_allclose(m[k], r[k], rtol=1e-4, atol=1e-5, err_msg=k)
  assert float(state.extras["ada_p"]) == pytest.approx(
      float(ref_state.extras["ada_p"]), abs=1e-6)


@pytest.mark.slow  # the loop's compilations, twice
def test_cli_resume_keeps_p(tmp_path, tfds_dir):
  """`jaxgan train` with ADA from the command line; a resumed run continues from the
  checkpoint's p (not augment_p again): p in metrics.jsonl follows the rule across it."""
  from jaxgan import cli
  from helpers import run_rows
  from test_stylegan2 import CONFIG, TINY
  workdir = tmp_path / "run"
  args = ["train", "--config", CONFIG, "--workdir", str(workdir), f"--config.data_dir={tfds_dir}",
          "--config.progress_bar=false", *[f"--config.{k}={v}" for k, v in TINY.items()],
          "--config.log_every_steps=1", "--config.sample_every_steps=100",
          "--config.checkpoint_every_steps=4", "--config.stylegan2.augment_pipe=bgc",
          "--config.stylegan2.augment_p=0.5", "--config.stylegan2.ada_target=0.99",
          "--config.stylegan2.ada_interval=2", "--config.stylegan2.ada_kimg=0.32"]
  assert cli.main([*args, "--config.num_train_steps=4"]) == 0
  assert cli.main([*args, "--config.num_train_steps=8"]) == 0
  rows = run_rows(workdir)
  assert sorted(rows) == list(range(1, 9))
  p = 0.5
  for step in range(1, 9):  # row `step` holds the metrics of step index step - 1
    assert rows[step]["ada_p"] == pytest.approx(p, abs=1e-6), step
    if step % 2 == 0:
      p = max(p + np.sign(_rt([rows[step - 1], rows[step]]) - 0.99) * 0.1, 0.0)
  assert rows[5]["ada_p"] != 0.5  # p moved before the checkpoint, and the resume kept it


def test_padding_buckets_sample_the_same_pixels():
  """warp pads by the smallest bucket covering the batch's margin: the same images as
  NVIDIA's upper bound (side - 1), and small buckets when nothing moves far."""
  x = jnp.asarray(images((4, 32, 48, 3)))
  pipe = ada.AugmentPipe.from_name("bg")
  buckets = ada.padding_buckets(32, 48)
  assert buckets == [(4, 6), (8, 12), (16, 24), (31, 47)]
  random = pipe.sample(jax.random.PRNGKey(0), 4, 0.5)
  for given, bucket in ((dict(), (8, 12)),                # the filters' reach (6 pixels) only
                        (dict(xfrac=[0.1, 0.1]), (16, 24)),  # 4.8 and 3.2 pixels more
                        (dict(rotate_pre=0.3), (16, 24)),
                        (dict(scale=0.5), (31, 47)),       # zoomed out: reads twice as far
                        (random, None)):
    g = pipe.geometry(values(4, **given) if given is not random else random, 32, 48)
    need = np.asarray(ada.needed_padding(g, 32, 48))
    chosen = next(b for b in buckets if need[0] <= b[0] and need[1] <= b[1])
    assert bucket is None or chosen == bucket, (given, need)
    # Up to the filters' outermost taps (|h| < 0.008), which see the bucket's zeros.
    np.testing.assert_allclose(ada.warp(x, g), ada.warp_padded(x, g, (31, 47)), atol=1e-4,
                               err_msg=str(given))
