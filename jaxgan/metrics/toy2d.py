"""Mode coverage on the 2-D toys, as VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et
al. 2018) report it:

  modes          modes with at least one sample within 3 std of their centre
  high_quality   fraction of samples within 3 std of some mode's centre
  reverse_kl     KL(mode histogram of the high-quality samples || uniform), nats
                 (inf when no sample is of high quality)
"""

import numpy as np

from jaxgan.data import toy2d


def mode_report(samples: np.ndarray, dataset: str) -> dict[str, float]:
  """The three figures for float (N, 2) samples of a model of `dataset`."""
  samples = np.asarray(samples, np.float64)
  if samples.ndim != 2 or samples.shape[1] != 2:
    raise ValueError(f"expected (N, 2) points, got {samples.shape}")
  centres, std = toy2d.modes(dataset)
  dist = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=-1)   # (N, K)
  nearest = dist.argmin(axis=1)
  good = dist[np.arange(len(samples)), nearest] <= 3 * std
  counts = np.bincount(nearest[good], minlength=len(centres))
  if counts.sum():
    q = counts / counts.sum()
    nz = q[q > 0]
    kl = float(np.sum(nz * np.log(nz * len(centres))))
  else:
    kl = float("inf")
  return {"modes": int(np.sum(counts > 0)), "high_quality": float(good.mean()),
          "reverse_kl": kl}
