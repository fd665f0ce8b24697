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
"""

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
