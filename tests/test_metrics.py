"""Sample-quality metrics against independent NumPy/SciPy computations and pytorch-fid."""

import os

import jax
import numpy as np
import pytest
import scipy.linalg

from jaxgan.metrics import feature_nets, features
from jaxgan.metrics.frechet import frechet_distance, frechet_distance_features, gaussian_stats
from jaxgan.metrics.inception_score import inception_score, inception_score_from_probs
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.precision_recall import precision_recall

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "frechet_pytorch_fid.npz")


# --- Fréchet distance ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["plain", "singular", "identical"])
def test_frechet_matches_pytorch_fid(case):
  data = np.load(FIXTURE)
  got = frechet_distance_features(data[f"{case}_a"], data[f"{case}_b"])
  np.testing.assert_allclose(got, float(data[f"{case}_fd"]), rtol=1e-9, atol=1e-9)


def test_frechet_eps_retry_matches_pytorch_fid(monkeypatch):
  """The (S1 + eps I)(S2 + eps I) retry, forced as the fixture script forced pytorch-fid's."""
  data, original, calls = np.load(FIXTURE), scipy.linalg.sqrtm, []

  def first_call_fails(m, *args, **kwargs):
    calls.append(1)
    return np.full_like(m, np.inf) if len(calls) == 1 else original(m, *args, **kwargs)

  monkeypatch.setattr(scipy.linalg, "sqrtm", first_call_fails)
  got = frechet_distance_features(data["offset_a"], data["offset_b"])
  assert len(calls) == 2
  np.testing.assert_allclose(got, float(data["offset_fd"]), rtol=1e-9)


def test_frechet_closed_form_and_errors():
  # Diagonal Gaussians: d^2 = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
  a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
  want = 0.5 ** 2 * 3 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  np.testing.assert_allclose(frechet_distance(np.zeros(3), np.diag(a), np.full(3, 0.5), np.diag(b)),
                             want, rtol=1e-12)
  x = np.random.default_rng(0).normal(size=(50, 4))
  assert abs(frechet_distance_features(x, x)) < 1e-10
  with pytest.raises(ValueError, match="imaginary"):
    frechet_distance(np.zeros(2), np.diag([1.0, -4.0]), np.zeros(2), np.eye(2))
  with pytest.raises(ValueError, match="mismatched"):
    frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
  mu, sigma = gaussian_stats(x)
  np.testing.assert_allclose(sigma, np.cov(x.T), rtol=1e-12)


# --- KID ----------------------------------------------------------------------------------------

def _kid_double_loop(x, y):
  """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, written out pair by pair."""
  m, d = len(x), x.shape[1]
  k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
  return xx + yy - 2 * xy


def test_kid_matches_double_loop():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) * 1.3 + 0.2
  # One subset of every row: a permutation of each set, which MMD does not see.
  mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=100)
  np.testing.assert_allclose(mean, _kid_double_loop(x, y), rtol=1e-10)
  assert std == 0.0
  # Many subsets that are all both whole sets: one estimate, std exactly 0 (not round-off).
  assert kernel_inception_distance(x, y, num_subsets=50, subset_size=100) == (mean, 0.0)
  # Several subsets: the mean of the subset estimates, each the double-loop value.
  mean, _ = kernel_inception_distance(x, y, num_subsets=3, subset_size=6, seed=5)
  gen = np.random.default_rng(5)
  want = np.mean([_kid_double_loop(x[gen.choice(12, 6, replace=False)],
                                   y[gen.choice(12, 6, replace=False)]) for _ in range(3)])
  np.testing.assert_allclose(mean, want, rtol=1e-10)


def test_kid_same_distribution_near_zero():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
  same, _ = kernel_inception_distance(x, y, num_subsets=20, subset_size=200)
  shifted, _ = kernel_inception_distance(x, y + 1.0, num_subsets=20, subset_size=200)
  assert abs(same) < 0.05 * shifted


# --- Inception Score ----------------------------------------------------------------------------

def test_inception_score_matches_numpy():
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(53, 7)) * 3
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  scores = []
  for i in range(10):
    part = p[i * 53 // 10:(i + 1) * 53 // 10]
    py = part.mean(0)
    scores.append(np.exp(np.mean([np.sum(row * (np.log(row) - np.log(py))) for row in part])))
  mean, std = inception_score(logits)
  np.testing.assert_allclose([mean, std], [np.mean(scores), np.std(scores)], rtol=1e-10)


def test_inception_score_bounds():
  one_class = np.zeros((100, 10))
  one_class[:, 3] = 1.0
  assert inception_score_from_probs(one_class) == (1.0, 0.0)
  balanced = np.eye(10)[np.arange(100) % 10]  # confident and uniform over 10 classes
  np.testing.assert_allclose(inception_score_from_probs(balanced)[0], 10.0, rtol=1e-12)
  with pytest.raises(ValueError):
    inception_score(np.zeros((5, 3)))  # fewer samples than splits


# --- Precision and recall -----------------------------------------------------------------------

def _pr_brute_force(real, fake, k):
  def radii(points):
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself
  def covered(manifold, r, queries):
    d = np.linalg.norm(queries[:, None] - manifold[None], axis=-1)
    return float(np.mean([(d[i] <= r).any() for i in range(len(queries))]))
  return covered(real, radii(real), fake), covered(fake, radii(fake), real)


@pytest.mark.parametrize("block", [7, 1024])
def test_precision_recall_matches_brute_force(block):
  rng = np.random.default_rng(4)
  real, fake = rng.normal(size=(40, 5)), rng.normal(size=(33, 5)) * 1.5 + 0.8
  got = precision_recall(real, fake, k=3, block=block)
  np.testing.assert_allclose(got, _pr_brute_force(real, fake, 3), rtol=0, atol=1e-12)
  assert 0 < got[0] < 1 and 0 < got[1] < 1  # the check can fail both ways


def test_precision_recall_identical_and_disjoint():
  x = np.random.default_rng(5).normal(size=(50, 6))
  assert precision_recall(x, x.copy()) == (1.0, 1.0)
  assert precision_recall(x, x + 100.0) == (0.0, 0.0)


# --- Streaming, sharded feature extraction -----------------------------------------------------

def test_sharded_extraction_matches_one_call():
  net = feature_nets.load_feature_net("digits")
  images = np.random.default_rng(6).integers(0, 256, (21, 12, 12, 1)).astype(np.uint8)
  assert jax.device_count() == 8  # tests/conftest.py simulates 8 devices
  ex = features.Extractor(net, batch_size=5)  # rounded up to 8: batches of 8, 8, 5 (+3 padding)
  assert ex.batch_size == 8
  feats, logits = ex(images)
  want_f, want_l = jax.jit(net.apply)(net.variables, images)
  assert feats.shape == (21, 64) and logits.shape == (21, 10)
  np.testing.assert_allclose(feats, want_f, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(logits, want_l, rtol=1e-5, atol=1e-4)
  # RGB input is converted to grey first: a grey image repeated to RGB gives the same features.
  rgb_f, _ = ex(np.repeat(images, 3, axis=-1))
  np.testing.assert_allclose(rgb_f, feats, rtol=1e-4, atol=1e-4)


def test_embedded_nets_ship_small_and_unknown_names_fail():
  from jaxgan.errors import UsageError
  total = sum(os.path.getsize(feature_nets.embedded_weights_path(n))
              for n in feature_nets.EMBEDDED_SPECS)
  assert total < 1_000_000
  with pytest.raises(UsageError, match="valid: digits, faces, inception"):
    feature_nets.load_feature_net("resnet")
