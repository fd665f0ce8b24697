"""Directions in a latent space, and edits along them.

  pca         GANSpace (Härkönen et al. 2020): the principal axes of many sampled latents
              (W for StyleGAN2); a strength s moves s standard deviations along the axis.
  attribute   an attribute vector (White 2016, "Sampling Generative Networks"): the mean
              latent of one group of images minus that of another (e.g. projected images
              with and without the attribute); strength 1 moves a latent by that difference.

Edits in w+ may be confined to some layers (GANSpace edits "layers 0-3" for pose, later
ones for colour): the direction, in W, is added to those layers' ws only.
"""

import numpy as np

from jaxgan.errors import UsageError


def pca(latents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(components (k, d), standard deviations (k,), mean (d,)) of latents (N, d), the
  components unit-length, by decreasing variance, each signed so its largest entry is
  positive (a stable choice of sign)."""
  x = np.asarray(latents, np.float64)
  if x.ndim != 2:
    raise UsageError(f"PCA needs latents (N, d), got shape {x.shape}")
  n, d = x.shape
  if not 1 <= k <= min(n - 1, d):
    raise UsageError(f"--pca {k}: needs 1 <= k <= min(samples - 1, {d}) = {min(n - 1, d)}")
  mean = x.mean(0)
  _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
  comps = vt[:k]
  signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
  return (comps * signs[:, None]).astype(np.float32), (s[:k] / np.sqrt(n - 1)).astype(np.float32), \
      mean.astype(np.float32)


def attribute(latents: np.ndarray, groups: np.ndarray, source, target) -> np.ndarray:
  """mean(latents of group `target`) - mean(latents of group `source`); latents (N, ...)."""
  groups = np.asarray(groups)
  means = []
  for g in (source, target):
    rows = groups == g
    if not rows.any():
      have = ", ".join(sorted({str(x) for x in groups.tolist()}))
      raise UsageError(f"no latents in group {g!r}; the file's groups: {have}")
    means.append(np.asarray(latents, np.float64)[rows].mean(0))
  return (means[1] - means[0]).astype(np.float32)


def parse_layers(text: str | None, num_ws: int) -> np.ndarray | None:
  """'0-3' or '4' -> a boolean mask (num_ws,) of the layers edited; None: all."""
  if not text:
    return None
  lo, _, hi = text.partition("-")
  try:
    lo, hi = int(lo), int(hi or lo)
  except ValueError:
    raise UsageError(f"--layers must be N or N-M, got {text!r}") from None
  if not 0 <= lo <= hi < num_ws:
    raise UsageError(f"--layers {text}: this generator has layers 0..{num_ws - 1}")
  mask = np.zeros((num_ws,), bool)
  mask[lo:hi + 1] = True
  return mask


def edit(latents: np.ndarray, direction: np.ndarray, strengths, layers=None) -> np.ndarray:
  """latents (N, *shape) -> (N, S, *shape): latent + s * direction for every strength s.

  `direction` has the latents' shape, or (w_dim,) for w+ latents (N, num_ws, w_dim): then
  it is added to the `layers` (bool mask) only, all when None.
  """
  x = np.asarray(latents, np.float32)
  s = np.asarray(strengths, np.float32)
  v = np.asarray(direction, np.float32)
  if x.ndim == 3 and v.ndim == 1:  # a W direction applied to w+
    mask = np.ones((x.shape[1],), bool) if layers is None else np.asarray(layers, bool)
    v = np.where(mask[:, None], v[None], 0.0)
  elif layers is not None:
    raise UsageError("--layers needs w+ latents (project with --space w+)")
  if v.shape != x.shape[1:]:
    raise UsageError(f"direction of shape {v.shape} does not fit latents of shape {x.shape[1:]}")
  return x[:, None] + s.reshape(1, -1, *[1] * v.ndim) * v[None, None]
