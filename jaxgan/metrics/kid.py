"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimate of MMD^2 under the cubic polynomial kernel
k(x, y) = (x.y / D + 1)^3, averaged over random subsets of both sets. Defaults are
torch-fidelity's (100 subsets of 1000), except that the subset size is clipped to the
smaller set instead of failing, so small evaluations still run.
"""

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """(x.y / D + 1)^3 for every pair of rows: (M, D), (N, D) -> (M, N), float64."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 between equally sized (M, D) samples (diagonals of Kxx, Kyy excluded)."""
  m = x.shape[0]
  if m < 2 or y.shape[0] != m:
    raise ValueError(f"need two sets of the same size >= 2, got {x.shape[0]} and {y.shape[0]}")
  kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
  return float(within - 2.0 * kxy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID between two feature sets: mean and std of MMD^2 over random subsets.

  Args:
    real, fake: (N1, D) and (N2, D) features.
    num_subsets: how many subset pairs to average over.
    subset_size: rows per subset (without replacement); clipped to min(N1, N2).
    seed: subsets are drawn from numpy.random.default_rng(seed): fixed seed, same value.
  Returns:
    (mean, std) of the subset estimates; std is 0 for one subset, and when both sets fit
    in a subset (every subset is then both whole sets: one estimate, not round-off).
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"expected (N, D) features of equal D, got {real.shape} and {fake.shape}")
  if num_subsets < 1:
    raise ValueError(f"num_subsets must be positive, got {num_subsets}")
  m = min(subset_size, real.shape[0], fake.shape[0])
  if m == real.shape[0] == fake.shape[0]:
    num_subsets = 1
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    r = real[rng.choice(real.shape[0], m, replace=False)]
    f = fake[rng.choice(fake.shape[0], m, replace=False)]
    values.append(mmd2_unbiased(r, f))
  return float(np.mean(values)), float(np.std(values))
