"""Full-reference metrics (L1, PSNR, SSIM, the SR papers' Y view) against formulas written
out here in NumPy: Wang et al.'s SSIM from its definition, not from scikit-image."""

import numpy as np
import pytest

from jaxgan.metrics import full_reference as fr


def _gaussian_window(size=11, sigma=1.5):
  x = np.arange(size) - size // 2
  g = np.exp(-x ** 2 / (2 * sigma ** 2))
  w = np.outer(g, g)
  return w / w.sum()


def _ssim_by_definition(a, b, peak=255.0):
  """Wang et al. 2004, eq. 13 with the 11x11 Gaussian window over every position where
  it lies inside the image, averaged; channels averaged."""
  w = _gaussian_window()
  c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
  h, wd, channels = a.shape
  values = []
  for c in range(channels):
    x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
    maps = []
    for i in range(h - 10):
      for j in range(wd - 10):
        px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
        mx, my = (w * px).sum(), (w * py).sum()
        vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
        cov = (w * (px - mx) * (py - my)).sum()
        maps.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    values.append(np.mean(maps))
  return float(np.mean(values))


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_wang_et_al(channels):
  rng = np.random.default_rng(channels)
  a = rng.integers(0, 256, (17, 20, channels), dtype=np.uint8)
  b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
  assert fr.ssim(a, b) == pytest.approx(_ssim_by_definition(a, b), rel=1e-9)
  assert fr.ssim(a, a) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="11x11"):
    fr.ssim(a[:10], b[:10])


def test_l1_and_psnr():
  a = np.zeros((4, 5, 3), np.uint8)
  b = a.copy()
  b[0, 0, 0] = 51                                   # one value off by 51 of 60
  assert fr.l1(a, b) == pytest.approx(51 / 255 / 60)
  assert fr.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / (51 ** 2 / 60)))
  assert fr.psnr(a, a) == float("inf") and fr.l1(a, a) == 0


def test_sr_view_is_shaved_luma():
  a = np.full((8, 8, 3), 100, np.uint8)
  b = a.copy()
  b[0, 0] = 110                        # in the shaved border: ignored
  assert fr.psnr(fr.sr_view(a, 1), fr.sr_view(b, 1)) == float("inf")
  b[4, 4] = (110, 110, 110)            # Y moves by 10 * (65.481 + 128.553 + 24.966) / 255
  dy = 10 * (65.481 + 128.553 + 24.966) / 255
  expected = 10 * np.log10(255.0 ** 2 / (dy ** 2 / 36))
  assert fr.psnr(fr.sr_view(a, 1), fr.sr_view(b, 1)) == pytest.approx(expected)
  assert fr.sr_view(a, 2).shape == (4, 4, 1) and fr.sr_view(a[..., :1], 0).shape == (8, 8, 1)


def test_per_image_rows():
  rng = np.random.default_rng(0)
  out = rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
  truth = rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
  rows = fr.per_image(["l1", "psnr", "ssim"], out, truth)
  assert rows["psnr"] == [fr.psnr(o, t) for o, t in zip(out, truth)]
  assert rows["ssim"][2] == fr.ssim(out[2], truth[2]) and len(rows["l1"]) == 3
  sr = fr.per_image(["psnr"], out, truth, sr_scale=0)
  assert sr["psnr"][0] == fr.psnr(fr.luma(out[0]), fr.luma(truth[0]))
  with pytest.raises(ValueError, match="differ in shape"):
    fr.per_image(["l1"], out, truth[:, :8])


@pytest.mark.parametrize("sr_scale", [None, 0, 2])
def test_batched_device_values_equal_the_float64_reference(sr_scale):
  """batch_values (float32, jitted) = per_image (float64, scikit-image), on noisy and on
  smooth images (where SSIM's variances are small differences of large means)."""
  from scipy import ndimage
  rng = np.random.default_rng(1)
  noisy = rng.integers(0, 256, (3, 24, 30, 3), dtype=np.uint8)
  smooth = ndimage.gaussian_filter(rng.uniform(0, 255, (3, 24, 30, 3)), (0, 3, 3, 0))
  for a in (noisy, smooth.astype(np.uint8)):
    b = np.clip(a.astype(int) + rng.integers(-6, 7, a.shape), 0, 255).astype(np.uint8)
    ref = fr.per_image(fr.METRICS, a, b, sr_scale)
    got = fr.batch_values(fr.METRICS, a, b, sr_scale)
    for m in fr.METRICS:
      np.testing.assert_allclose(got[m], ref[m], rtol=2e-5, atol=1e-6, err_msg=m)
  grey = noisy[..., :1]
  np.testing.assert_allclose(fr.batch_values(["ssim"], grey, grey[::-1])["ssim"],
                             fr.per_image(["ssim"], grey, grey[::-1])["ssim"], atol=1e-6)
  assert fr.batch_values(["psnr"], grey, grey)["psnr"].tolist() == [np.inf] * 3
  with pytest.raises(ValueError, match="11x11"):
    fr.batch_values(["ssim"], noisy, noisy, sr_scale=7)
