"""Improved precision and recall (Kynkäänniemi et al. 2019).

Each set's manifold is the union of balls around its points, each ball reaching the
point's k-th nearest neighbour in its own set (k=3 as in the paper). Precision is the
fraction of generated points inside the real manifold; recall the fraction of real
points inside the generated one. Distances are computed in row blocks, so memory stays
at block x N however many points there are.
"""

import numpy as np


def _squared_distances(a: np.ndarray, b: np.ndarray, b_norms: np.ndarray) -> np.ndarray:
  """|a_i - b_j|^2 for (M, D), (N, D) -> (M, N), clipped at 0 against round-off."""
  d = (a * a).sum(axis=1)[:, None] + b_norms[None, :] - 2.0 * (a @ b.T)
  return np.maximum(d, 0.0)


def knn_radii(points: np.ndarray, k: int = 3, block: int = 1024) -> np.ndarray:
  """Squared distance of every point to its k-th nearest other point: (N, D) -> (N,)."""
  if not 1 <= k < points.shape[0]:
    raise ValueError(f"need 1 <= k < N, got k={k} and N={points.shape[0]}")
  norms = (points * points).sum(axis=1)
  radii = np.empty(points.shape[0])
  for s in range(0, points.shape[0], block):
    d = _squared_distances(points[s:s + block], points, norms)
    # Index k, not k-1: every row's smallest entry is the point itself (distance 0).
    radii[s:s + block] = np.partition(d, k, axis=1)[:, k]
  return radii


def coverage_fraction(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray,
                      block: int = 1024) -> float:
  """Fraction of `queries` within radii[j] of some manifold point j (squared distances)."""
  norms = (manifold * manifold).sum(axis=1)
  inside = 0
  for s in range(0, queries.shape[0], block):
    d = _squared_distances(queries[s:s + block], manifold, norms)
    inside += int(np.any(d <= radii[None, :], axis=1).sum())
  return inside / queries.shape[0]


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3,
                     block: int = 1024) -> tuple[float, float]:
  """Improved precision and recall of `fake` against `real`.

  Args:
    real, fake: (N1, D) and (N2, D) features; each set needs more than k points.
    k: the neighbour whose distance sets each ball's radius.
    block: rows of the distance matrix computed at once.
  Returns:
    (precision, recall), each in [0, 1]; identical sets give (1, 1).
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"expected (N, D) features of equal D, got {real.shape} and {fake.shape}")
  precision = coverage_fraction(real, knn_radii(real, k, block), fake, block)
  recall = coverage_fraction(fake, knn_radii(fake, k, block), real, block)
  return precision, recall
