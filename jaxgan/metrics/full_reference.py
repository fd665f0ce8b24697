"""Full-reference image metrics: an output against its own ground truth, both uint8.

  l1    mean |a - b| on [0, 1] pixel values
  psnr  10 log10(255^2 / MSE), dB (identical images: inf)
  ssim  Wang et al. 2004 SSIM: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03,
        population covariances, the mean over the window positions inside the image,
        channels averaged: scikit-image's `structural_similarity` set as its docs say
        matches the paper (and MATLAB's ssim.m, and BasicSR's calculate_ssim)

Each is per image; a set of images reports the mean of the per-image values, as the
SR, translation and inpainting papers do. `sr_view` is the super-resolution papers'
protocol: the metrics are taken on Y of rgb2ycbcr with `scale` border pixels shaved.

Two implementations: per_image, NumPy/scikit-image in float64 on the host (the
reference), and batch_values, the same formulas jitted over a batch on the device in
float32 (what `jaxgan eval` runs: ~50 ms of host SSIM per 256x256 image would make
10,000 images a 9-minute wait). They agree to ~1e-5 (tests/test_full_reference.py).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from skimage.metrics import structural_similarity

METRICS = ("l1", "psnr", "ssim")


def luma(pixels: np.ndarray) -> np.ndarray:
  """Y of uint8 RGB (H, W, 3) as MATLAB's rgb2ycbcr (16..235), float64 (H, W, 1); grey
  images pass through."""
  if pixels.shape[-1] == 1:
    return pixels.astype(np.float64)
  rgb = pixels.astype(np.float64) / 255.0
  return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2])[..., None]


def sr_view(pixels: np.ndarray, scale: int) -> np.ndarray:
  """The SR papers' view of an image (H, W, C): Y (float64, (H, W, 1)), `scale` pixels
  shaved off each border."""
  y = luma(pixels)
  return y[scale:-scale, scale:-scale] if scale else y


def l1(a: np.ndarray, b: np.ndarray) -> float:
  """Mean absolute difference of two images on [0, 255] values, on the [0, 1] scale."""
  return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))) / 255.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  """PSNR in dB of two images on [0, 255] values (peak 255); inf when they are equal."""
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
  """SSIM of two (H, W, C) images on [0, 255] values, as the module doc says."""
  if min(a.shape[:2]) < 11:
    raise ValueError(f"SSIM's 11x11 window needs images of at least 11x11, got "
                     f"{a.shape[1]}x{a.shape[0]}")
  return float(structural_similarity(
      a.astype(np.float64), b.astype(np.float64), data_range=255.0, channel_axis=-1,
      gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


_FNS = {"l1": l1, "psnr": psnr, "ssim": ssim}


def per_image(metrics, outputs: np.ndarray, truths: np.ndarray,
              sr_scale: int | None = None) -> dict[str, list[float]]:
  """{metric: [value of each image]} of uint8 (N, H, W, C) outputs against truths;
  `sr_scale`: on the SR papers' view (sr_view) instead of all values."""
  if outputs.shape != truths.shape:
    raise ValueError(f"outputs {outputs.shape} and ground truth {truths.shape} differ in shape")
  view = (lambda x: sr_view(x, sr_scale)) if sr_scale is not None else (lambda x: x)
  out = {m: [] for m in metrics}
  for a, b in zip(outputs, truths):
    a, b = view(a), view(b)
    for m in metrics:
      out[m].append(_FNS[m](a, b))
  return out


# --- batched, on the device ------------------------------------------------------------------
_LUMA = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  """scikit-image's window: scipy's gaussian_filter at sigma 1.5, truncate 3.5 (11 taps)."""
  x = np.arange(size) - size // 2
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  return g / g.sum()


def _filter_valid(x: jax.Array) -> jax.Array:
  """The 11x11 Gaussian mean at every position where the window lies inside (N, H, W, C):
  (N, H - 10, W - 10, C), separable (rows, then columns)."""
  g = _gaussian_1d()
  h, w = x.shape[1] - 10, x.shape[2] - 10
  # The barrier keeps XLA from fusing the passes (it would redo the rows for every column
  # tap: 121 multiplies per value instead of 22; 6x slower on the CPU).
  x = jax.lax.optimization_barrier(sum(float(g[i]) * x[:, i:i + h] for i in range(11)))
  return sum(float(g[i]) * x[:, :, i:i + w] for i in range(11))


def _ssim_batch(a: jax.Array, b: jax.Array) -> jax.Array:
  """(N,) SSIM of float (N, H, W, C) images on [0, 255] (the module doc's definition).
  Values are shifted by 128 first: SSIM's variances are differences of large means, and
  centring keeps float32's cancellation ~4x smaller (the shift cancels in every term but
  the means, which get it back)."""
  c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
  a, b = a - 128.0, b - 128.0
  c = a.shape[-1]  # the five local means in one pass over a (N, H, W, 5C) stack
  means = _filter_valid(jnp.concatenate([a, b, a * a, b * b, a * b], axis=-1))
  ua, ub, uaa, ubb, uab = (means[..., i * c:(i + 1) * c] for i in range(5))
  vaa, vbb, vab = uaa - ua * ua, ubb - ub * ub, uab - ua * ub
  ma, mb = ua + 128.0, ub + 128.0
  s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (vaa + vbb + c2))
  return jnp.mean(s, axis=(1, 2, 3))


@functools.partial(jax.jit, static_argnames=("metrics", "sr_scale"))
def _batch_values(outputs, truths, metrics: tuple[str, ...], sr_scale: int | None):
  a, b = outputs.astype(jnp.float32), truths.astype(jnp.float32)
  if sr_scale is not None:
    if a.shape[-1] == 3:
      luma = lambda x: 16.0 + x @ jnp.asarray(_LUMA, jnp.float32)[:, None]
      a, b = luma(a), luma(b)
    if sr_scale:
      a = a[:, sr_scale:-sr_scale, sr_scale:-sr_scale]
      b = b[:, sr_scale:-sr_scale, sr_scale:-sr_scale]
  out = {}
  if "l1" in metrics:
    out["l1"] = jnp.mean(jnp.abs(a - b), axis=(1, 2, 3)) / 255.0
  if "psnr" in metrics:
    mse = jnp.mean((a - b) ** 2, axis=(1, 2, 3))
    out["psnr"] = jnp.where(mse == 0, jnp.inf, 10 * jnp.log10(255.0 ** 2 / mse))
  if "ssim" in metrics:
    out["ssim"] = _ssim_batch(a, b)
  return out


def batch_values(metrics, outputs: np.ndarray, truths: np.ndarray,
                 sr_scale: int | None = None) -> dict[str, np.ndarray]:
  """{metric: float64 (N,) per-image values}: per_image's figures, computed on the device."""
  if outputs.shape != truths.shape:
    raise ValueError(f"outputs {outputs.shape} and ground truth {truths.shape} differ in shape")
  side = min(outputs.shape[1:3]) - 2 * (sr_scale or 0)
  if "ssim" in metrics and side < 11:
    raise ValueError(f"SSIM's 11x11 window needs images of at least 11x11, got {side}x{side}")
  values = _batch_values(outputs, truths, tuple(metrics), sr_scale)
  return {m: np.asarray(values[m], np.float64) for m in metrics}
