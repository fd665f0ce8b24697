"""GAN inversion and latent edits (jaxgan/edit/{latent_space,project,directions}.py) against
formulas written out here in numpy, scikit-learn's PCA, and generated targets whose
latents are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import sampling
from jaxgan.edit import directions, latent_space, project
from jaxgan.errors import UsageError
from jaxgan.models import dcgan, resnet, stylegan2


def _dcgan():
  g = dcgan.Generator(image_size=16, channels=1, latent_dim=8, width=4)
  return g, g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)), train=False)


def _stylegan2():
  g = stylegan2.Generator(image_size=8, channels=1, latent_dim=8, w_dim=8, mapping_layers=2,
                          channel_base=32, channel_max=8)
  v = g.init(jax.random.PRNGKey(1), jnp.zeros((1, 8)))
  # A trained run's w_avg is the mapping's mean; a fresh one's is 0: set it as training would.
  w = g.apply(v, jax.random.normal(jax.random.PRNGKey(2), (512, 8)), method=stylegan2.Generator.map)
  v = {"params": v["params"], "batch_stats": {"w_avg": w[:, 0].mean(0)}}
  return g, v


# --- latent spaces --------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_sampled_latents_decode_to_generate_samples(space):
  # A sample's latent in any space decodes to the very image `jaxgan generate` gives it.
  g, v = _stylegan2() if space != "z" else _dcgan()
  want = sampling.generate_samples(g, v["params"], v["batch_stats"], num=3, seed=5, batch_size=3)
  latents = latent_space.sample(g, v, space, 5, np.arange(3))
  assert latents.shape == (3, *latent_space.latent_shape(g, space))
  np.testing.assert_allclose(latent_space.decode(g, v, space, latents), want, atol=1e-5)


def test_spaces_and_their_errors():
  g, _ = _dcgan()
  assert latent_space.spaces_of(g) == ("z",) and latent_space.default_space(g) == "z"
  with pytest.raises(UsageError, match="not one of this generator's: z"):
    latent_space.check_space(g, "w")
  s, _ = _stylegan2()
  assert latent_space.default_space(s) == "w" and latent_space.latent_shape(s, "w+") == (4, 8)


def _slerp_numpy(a, b, t):
  # White (2016): sin((1-t)W)/sin(W) a + sin(tW)/sin(W) b for unit a, b; norms lerped.
  na, nb = np.linalg.norm(a), np.linalg.norm(b)
  omega = np.arccos(np.dot(a / na, b / nb))
  unit = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
  return unit * ((1 - t) * na + t * nb)


def test_slerp_and_interpolation_match_the_formula():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=16), rng.normal(size=16)
  for t in (0.0, 0.3, 0.5, 1.0):
    np.testing.assert_allclose(latent_space.slerp(jnp.asarray(a), jnp.asarray(b), t),
                               _slerp_numpy(a, b, t), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(latent_space.slerp(jnp.asarray(a), jnp.asarray(2 * a), 0.5), 1.5 * a,
                             rtol=1e-5)  # parallel: falls back to lerp
  frames = np.asarray(latent_space.interpolate("z", jnp.asarray(a), jnp.asarray(b), 5))
  np.testing.assert_allclose(frames[0], a, rtol=1e-5)
  np.testing.assert_allclose(frames[-1], b, rtol=1e-5)
  np.testing.assert_allclose(frames[2], _slerp_numpy(a, b, 0.5), rtol=1e-5)
  lin = np.asarray(latent_space.interpolate("w", jnp.asarray(a), jnp.asarray(b), 3))
  np.testing.assert_allclose(lin[1], (a + b) / 2, rtol=1e-5)
  with pytest.raises(UsageError, match="at least 2 frames"):
    latent_space.interpolate("z", jnp.asarray(a), jnp.asarray(b), 1)


def test_w_statistics_as_nvidia_projector():
  g, v = _stylegan2()
  mean, spread = latent_space.statistics(g, v, "w", num=1000, seed=3)
  z = jax.random.normal(jax.random.PRNGKey(3), (1000, 8))
  w = np.asarray(latent_space.map_z(g, v, "w", z), np.float64)
  np.testing.assert_allclose(mean, w.mean(0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(spread, np.sqrt(np.sum((w - w.mean(0)) ** 2) / 1000), rtol=1e-4)
  assert latent_space.statistics(g, v, "w+", num=10, seed=3)[0].shape == (4, 8)


# --- the projector's schedule ---------------------------------------------------------------
def test_learning_rate_and_noise_ramps_follow_nvidia():
  o = project.ProjectOptions(num_steps=200)
  for step in (0, 1, 5, 10, 77, 150, 170, 199):
    # projector.py's loop body, transcribed.
    t = step / 200
    ramp = min(1.0, (1.0 - t) / 0.25)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    ramp = ramp * min(1.0, t / 0.05)
    np.testing.assert_allclose(project.learning_rate(o, step), 0.1 * ramp, rtol=1e-5, atol=1e-9)
    noise = 2.5 * 0.05 * max(0.0, 1.0 - t / 0.75) ** 2
    np.testing.assert_allclose(project.noise_scale(o, 2.5, step), noise, rtol=1e-5, atol=1e-9)


def test_bad_options_are_one_line_errors():
  for kwargs, message in (({"num_steps": 0}, "--steps"), ({"restarts": 0}, "--restarts"),
                          ({"learning_rate": 0}, "--learning-rate"),
                          ({"prior_weight": -1}, "must not be negative")):
    with pytest.raises(UsageError, match=message):
      project.check_options(project.ProjectOptions(**kwargs))


# --- projection -----------------------------------------------------------------------------
def _psnr(a, b):
  return project.psnr(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_projection_recovers_generated_images(space):
  # Targets the generator made itself can be matched closely; the start (the mean) cannot.
  g, v = _stylegan2() if space != "z" else _dcgan()
  targets = np.asarray(latent_space.decode(g, v, space, latent_space.sample(g, v, space, 9,
                                                                              np.arange(3))))
  o = project.ProjectOptions(space=space, num_steps=150, restarts=2 if space == "z" else 1)
  out = project.project(g, v, targets, o)
  assert out["space"] == space and out["latents"].shape == (3, *latent_space.latent_shape(g, space))
  assert out["labels"] is None and out["images"].shape == targets.shape
  start = latent_space.statistics(g, v, space)[0]
  start_images = latent_space.decode(g, v, space, jnp.broadcast_to(start, out["latents"].shape))
  got, before = _psnr(out["images"], targets), _psnr(start_images, targets)
  floor = 24 if space == "w+" else 35  # w+ has 4x the unknowns for the same 150 steps
  assert np.all(got > before + 10) and np.all(got > floor), (got, before)
  # The reported loss is the reconstruction's MSE.
  np.testing.assert_allclose(out["loss"], np.mean((out["images"] - targets) ** 2, axis=(1, 2, 3)),
                             rtol=1e-4)


def test_projection_does_not_depend_on_the_batching():
  g, v = _dcgan()
  targets = np.asarray(latent_space.decode(g, v, "z", latent_space.sample(g, v, "z", 4,
                                                                           np.arange(3))))
  o = project.ProjectOptions(num_steps=20, restarts=2)
  whole = project.project(g, v, targets, o, batch_size=64)
  one_by_one = project.project(g, v, targets, o, batch_size=1)  # 1 image (2 candidates) a chunk
  np.testing.assert_allclose(whole["latents"], one_by_one["latents"], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(whole["loss"], one_by_one["loss"], rtol=1e-5)


def test_more_restarts_never_do_worse():
  # Restart 0 is the same start whatever the count; the best of more can only be lower.
  g, v = _dcgan()
  rng = np.random.default_rng(0)
  targets = np.clip(rng.normal(size=(2, 16, 16, 1)), -1, 1).astype(np.float32)
  one = project.project(g, v, targets, project.ProjectOptions(num_steps=30, restarts=1))
  three = project.project(g, v, targets, project.ProjectOptions(num_steps=30, restarts=3))
  assert np.all(three["loss"] <= one["loss"] + 1e-7)


def test_prior_penalty_keeps_z_on_the_shell():
  g, v = _dcgan()
  rng = np.random.default_rng(1)
  targets = np.clip(rng.normal(size=(2, 16, 16, 1)) * 2, -1, 1).astype(np.float32)  # unreachable
  free = project.project(g, v, targets, project.ProjectOptions(num_steps=100, restarts=2))
  held = project.project(g, v, targets, project.ProjectOptions(num_steps=100, restarts=2,
                                                              prior_weight=10.0))
  shell = lambda z: np.abs(np.sum(z ** 2, axis=1) / 8 - 1)
  assert np.all(shell(held["latents"]) < 0.1) and np.all(shell(held["latents"]) < shell(free["latents"]))


def test_conditional_projection_tries_every_class_unless_told():
  g = resnet.Generator(image_size=16, channels=1, latent_dim=8, width=8, num_classes=3)
  v = g.init(jax.random.PRNGKey(0), jnp.zeros((1, 8)), labels=jnp.zeros((1,), jnp.int32))
  z = sampling.latents_for_indices(2, np.arange(3), 8)
  y = np.array([2, 0, 1], np.int32)
  targets = np.asarray(latent_space.decode(g, v, "z", z, y))
  o = project.ProjectOptions(num_steps=100, restarts=2)
  searched = project.project(g, v, targets, o)
  told = project.project(g, v, targets, o, labels=y)
  np.testing.assert_array_equal(told["labels"], y)
  assert np.all(_psnr(told["images"], targets) > 30)
  # The search runs the told class's candidates too (the same starts and noise), so it
  # does at least as well, whichever class wins.
  assert np.all(searched["loss"] <= told["loss"] * (1 + 1e-4) + 1e-7)
  assert set(searched["labels"].tolist()) <= {0, 1, 2}
  with pytest.raises(UsageError, match="class-conditional"):
    project.project(*_dcgan(), targets, o, labels=y)


# --- directions -----------------------------------------------------------------------------
def test_pca_matches_scikit_learn():
  from sklearn.decomposition import PCA
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
  comps, stds, mean = directions.pca(x, 3)
  ref = PCA(n_components=3).fit(x)
  np.testing.assert_allclose(np.abs(np.sum(comps * ref.components_, axis=1)), 1.0, rtol=1e-5)
  np.testing.assert_allclose(stds, np.sqrt(ref.explained_variance_), rtol=1e-5)
  np.testing.assert_allclose(mean, ref.mean_, rtol=1e-5, atol=1e-6)
  assert np.all(comps[np.arange(3), np.abs(comps).argmax(1)] > 0)  # the sign convention
  with pytest.raises(UsageError, match="--pca 7"):
    directions.pca(x, 7)


def test_attribute_vector_and_edits():
  rng = np.random.default_rng(0)
  lat = rng.normal(size=(6, 4)).astype(np.float32)
  groups = np.array(["a", "b", "a", "b", "b", "c"])
  v = directions.attribute(lat, groups, "a", "b")
  np.testing.assert_allclose(v, lat[[1, 3, 4]].mean(0) - lat[[0, 2]].mean(0), rtol=1e-5)
  with pytest.raises(UsageError, match="no latents in group 'x'.*a, b, c"):
    directions.attribute(lat, groups, "x", "b")
  out = directions.edit(lat[:2], v, [-1.0, 0.0, 2.0])
  assert out.shape == (2, 3, 4)
  np.testing.assert_allclose(out[1, 2], lat[1] + 2 * v, rtol=1e-6)
  np.testing.assert_array_equal(out[:, 1], lat[:2])
  # A W direction on w+ latents moves only the chosen layers.
  wplus = rng.normal(size=(2, 5, 4)).astype(np.float32)
  mask = directions.parse_layers("1-2", 5)
  moved = directions.edit(wplus, v, [1.0], mask)[:, 0]
  np.testing.assert_allclose(moved[:, 1:3], wplus[:, 1:3] + v, rtol=1e-6)
  np.testing.assert_array_equal(moved[:, [0, 3, 4]], wplus[:, [0, 3, 4]])
  for text, message in (("3-9", "layers 0..4"), ("x", "N or N-M")):
    with pytest.raises(UsageError, match=message):
      directions.parse_layers(text, 5)
  with pytest.raises(UsageError, match="does not fit"):
    directions.edit(lat, np.zeros(3), [1.0])


def test_perceptual_term_adds_the_weighted_feature_distance():
  rng = np.random.default_rng(0)
  x, t = (rng.normal(size=(2, 8, 8, 3)).astype(np.float32) for _ in range(2))
  features = project.Embedding(lambda w, a: w * a[..., :2], 3.0)  # a stand-in feature net
  distance = project.Distance(project.ProjectOptions(perceptual_weight=0.5), perceptual=features)
  w = distance.weights()
  got = distance(w, jnp.asarray(x), distance.target_features(w, jnp.asarray(t)))
  want = np.mean((x - t) ** 2, axis=(1, 2, 3)) + 0.5 * np.mean(
      (3 * x[..., :2] - 3 * t[..., :2]) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def _seeded_lpips(net):
  from jaxgan.metrics import lpips
  from fixtures.make_lpips_fixture import seeded_state_dicts
  return lpips.variables_from_state_dicts(*seeded_state_dicts(net))


def test_lpips_term_is_the_weighted_lpips_distance():
  """pixel_weight * MSE + lpips_weight * LPIPS, LPIPS as jaxgan.metrics.lpips computes it;
  images above 256 pixels are area-downsampled to 256 first (NVIDIA's projector)."""
  from jaxgan.metrics import lpips
  variables = _seeded_lpips("alex")
  rng = np.random.default_rng(0)
  x, t = (rng.uniform(-1, 1, (2, 40, 40, 1)).astype(np.float32) for _ in range(2))
  options = project.ProjectOptions(pixel_weight=0.5, lpips_weight=2.0)
  distance = project.Distance(options, lpips=project.lpips_embedding("alex", variables, 40))
  w = distance.weights()
  got = distance(w, jnp.asarray(x), distance.target_features(w, jnp.asarray(t)))
  want = (0.5 * np.mean((x - t) ** 2, axis=(1, 2, 3))
          + 2.0 * np.asarray(lpips.distance(variables, x, t, "alex")))
  np.testing.assert_allclose(got, want, rtol=1e-5)
  big = rng.uniform(-1, 1, (1, 512, 512, 3)).astype(np.float32)
  pooled = big.reshape(1, 256, 2, 256, 2, 3).mean(axis=(2, 4))
  embed = project.lpips_embedding("alex", variables, 512)
  np.testing.assert_allclose(embed.apply(embed.weights, big),
                             lpips.LPIPS("alex").apply(variables, pooled, method="embed"),
                             rtol=1e-5, atol=1e-7)
  with pytest.raises(UsageError, match="distance is empty"):
    project.check_options(project.ProjectOptions(pixel_weight=0.0))


def test_projection_under_lpips_alone_reduces_lpips():
  """NVIDIA's loss (LPIPS, no pixel term) on VGG16: the projection lowers the distance
  well below the start's, and the reported loss is the reconstructions' LPIPS."""
  from jaxgan.metrics import lpips
  g, v = _dcgan()  # 16x16: VGG16's smallest images
  variables = _seeded_lpips("vgg")
  targets = np.asarray(latent_space.decode(g, v, "z", latent_space.sample(g, v, "z", 9,
                                                                          np.arange(2))))
  o = project.ProjectOptions(num_steps=100, pixel_weight=0.0, lpips_weight=1.0)
  embed = project.lpips_embedding("vgg", variables, 16)
  out = project.project(g, v, targets, o, lpips_embed=embed)
  start = latent_space.statistics(g, v, "z")[0]
  start_images = latent_space.decode(g, v, "z", jnp.broadcast_to(start, out["latents"].shape))
  before = np.asarray(lpips.distance(variables, start_images, targets, "vgg"))
  after = np.asarray(lpips.distance(variables, out["images"], targets, "vgg"))
  np.testing.assert_allclose(out["loss"], after, rtol=1e-4, atol=1e-6)
  assert np.all(after < 0.5 * before), (after, before)
  with pytest.raises(UsageError, match="needs the LPIPS weights"):
    project.project(g, v, targets, o)
