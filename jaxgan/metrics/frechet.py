"""Fréchet distance between Gaussians fitted to two feature sets (FID on Inception pool3).

  d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrtm(S1 S2))

Computed in float64 with scipy.linalg.sqrtm and the safeguards that pytorch-fid's
reference implementation applies, so numbers agree with it to round-off:
  - a non-finite square root (S1 S2 near-singular, e.g. fewer samples than features)
    is retried on (S1 + eps I)(S2 + eps I);
  - imaginary parts left by sqrtm's round-off are dropped when the diagonal's are
    below 1e-3 and raise otherwise (the covariances are then not valid).
"""

import numpy as np
import scipy.linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and unbiased covariance (ddof=1, as numpy.cov) of (N, D) features, in float64.

  Args:
    features: (N, D) with N >= 2.
  Returns:
    mu (D,), sigma (D, D).
  """
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"expected (N >= 2, D) features, got shape {x.shape}")
  return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
  """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

  Args:
    mu1, mu2: (D,) means.
    sigma1, sigma2: (D, D) covariances.
    eps: diagonal offset used only when the plain matrix square root is not finite.
  Returns:
    The distance as a Python float (>= 0 up to round-off).
  Raises:
    ValueError: shapes differ, or sqrtm leaves a large imaginary component.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
    raise ValueError(f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, "
                     f"sigma {s1.shape} vs {s2.shape}")
  diff = mu1 - mu2
  root = scipy.linalg.sqrtm(s1 @ s2)
  if not np.isfinite(root).all():
    # Near-singular product: regularise both factors rather than return NaN/Inf.
    offset = np.eye(s1.shape[0]) * eps
    root = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
  if np.iscomplexobj(root):
    largest = np.max(np.abs(np.diagonal(root).imag))
    if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3):
      raise ValueError(f"sqrtm(sigma1 @ sigma2) has an imaginary component of {largest:.3g}; "
                       "the covariances are not valid (too few samples or non-finite features?)")
    root = root.real
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root))


def frechet_distance_features(a: np.ndarray, b: np.ndarray) -> float:
  """Fréchet distance between two (N, D) feature sets."""
  return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
