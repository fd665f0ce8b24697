"""`jaxgan upscale`: a trained super-resolution run (SRGAN, ESRGAN) applied to image files.

Images are upscaled at their own size (the generators are fully convolutional), one
PNG per input. Large images can go through in tiles (`tile` LR pixels a side, each
read with `tile_pad` pixels of context that are cut from its output): one compilation
for any image size and bounded memory. A tile's output equals the whole image's
wherever the context covers the generator's receptive field; only within that many
pixels of the image border does the tiled picture see mirrored context instead of the
convolutions' zero padding.

`evaluate=True` treats the inputs as high-resolution ground truth: each is cropped to
a multiple of the scale, degraded as the training data are (antialiased bicubic by
Pillow, 8-bit), upscaled, and PSNR of the result and of plain bicubic upscaling
against the original are returned: on all RGB values, and as the SR papers report it
(on Y of rgb2ycbcr, `scale` border pixels shaved), with SSIM on Y where the shaved image
is at least SSIM's 11x11 window, and with LPIPS weights given, LPIPS on RGB with the same
border shaved (BasicSR's calculate_lpips), where the image is large enough for its net.
"""

import os

import numpy as np
from PIL import Image

from jaxgan import images as image_lib
from jaxgan.edit import files as files_lib
from jaxgan.errors import UsageError
from jaxgan.metrics.full_reference import psnr, sr_view, ssim


def bicubic(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """uint8 (H, W, C) resized to (height, width) by Pillow's antialiased bicubic."""
  image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
  out = np.asarray(image.resize((size[1], size[0]), Image.BICUBIC))
  return out[..., None] if out.ndim == 2 else out


def evaluate_pixels(run, original: np.ndarray, scale: int, tile: int = 0,
                    tile_pad: int = 16, lpips=None) -> tuple[np.ndarray, np.ndarray, dict]:
  """Ground truth uint8 (H, W, C) -> (model output, bicubic output, PSNR row): cropped to
  a multiple of the scale, downscaled by Pillow's bicubic, upscaled both ways. `lpips`: a
  jaxgan.metrics.lpips.Distance for the row's lpips and lpips_bicubic."""
  h, w = (original.shape[0] // scale) * scale, (original.shape[1] // scale) * scale
  if h == 0 or w == 0:
    raise UsageError(f"an image of {original.shape[1]}x{original.shape[0]} is smaller than "
                     f"the scale ({scale}); nothing to evaluate")
  original = original[:h, :w]
  low = bicubic(original, (h // scale, w // scale))
  sr8 = upscale_pixels(run, low, scale, tile, tile_pad)
  base = bicubic(low, (h, w))
  y_sr, y_base, y_true = (sr_view(x, scale) for x in (sr8, base, original))
  row = {"psnr": psnr(sr8, original), "psnr_bicubic": psnr(base, original),
         "psnr_y": psnr(y_sr, y_true), "psnr_y_bicubic": psnr(y_base, y_true),
         "ssim_y": None, "ssim_y_bicubic": None}
  if min(y_true.shape[:2]) >= 11:  # SSIM's window must fit inside the shaved image
    row["ssim_y"], row["ssim_y_bicubic"] = ssim(y_sr, y_true), ssim(y_base, y_true)
  if lpips is not None:
    from jaxgan.metrics.lpips import MIN_SIZE
    shaved = [x[scale:-scale, scale:-scale][None] for x in (sr8, base, original)]
    fits = min(shaved[2].shape[1:3]) >= MIN_SIZE[lpips.net]
    row["lpips"], row["lpips_bicubic"] = (
        (float(lpips(shaved[0], shaved[2])[0]), float(lpips(shaved[1], shaved[2])[0]))
        if fits else (None, None))
  return sr8, base, row


def upscale_pixels(run, pixels: np.ndarray, scale: int, tile: int = 0,
                   tile_pad: int = 16) -> np.ndarray:
  """uint8 (H, W, C) -> uint8 (H s, W s, C) by run (N, h, w, C) -> (N, h s, w s, C) on
  [-1, 1] images: whole, or in tiles when the image is larger than `tile` > 0."""
  lr = files_lib.to_unit(pixels)
  if tile and max(lr.shape[:2]) > tile:
    sr = tiles(lr, run, scale, tile, tile_pad)
  else:
    sr = np.asarray(run(lr[None]))[0]
  return image_lib.to_uint8(sr)


def tiles(lr: np.ndarray, run, scale: int, tile: int, tile_pad: int) -> np.ndarray:
  """run() over (tile + 2 tile_pad)-pixel windows of lr (H, W, C) in [-1, 1], stitched:
  (H s, W s, C). run maps (N, t, t, C) -> (N, t s, t s, C), t = tile + 2 tile_pad."""
  h, w, _ = lr.shape
  rows, cols = -(-h // tile), -(-w // tile)
  # Mirror padding: context beyond the border, and the last row/column of tiles filled.
  padded = np.pad(lr, ((tile_pad, rows * tile - h + tile_pad),
                       (tile_pad, cols * tile - w + tile_pad), (0, 0)), mode="symmetric")
  window = tile + 2 * tile_pad
  out = np.zeros((rows * tile * scale, cols * tile * scale, lr.shape[-1]), np.float32)
  for r in range(rows):
    windows = np.stack([padded[r * tile:r * tile + window, c * tile:c * tile + window]
                        for c in range(cols)])
    up = np.asarray(run(windows))
    core = up[:, tile_pad * scale:(tile_pad + tile) * scale, tile_pad * scale:(tile_pad + tile) * scale]
    out[r * tile * scale:(r + 1) * tile * scale] = np.concatenate(list(core), axis=1)
  return out[:h * scale, :w * scale]


def upscale_files(workdir: str, input_path: str, out_dir: str, *, tile: int = 0,
                  tile_pad: int = 16, panels: bool = False, evaluate: bool = False,
                  overwrite: bool = False, lpips: str | None = None,
                  lpips_lin: str | None = None) -> tuple[list[str], list[dict]]:
  """Upscales every image under `input_path` into `out_dir`.

  Returns:
    (written paths, per-image rows {file, psnr, psnr_bicubic, psnr_y, psnr_y_bicubic,
    ssim_y, ssim_y_bicubic (None for images too small), and with the LPIPS weights `lpips`
    (and `lpips_lin`) given, lpips, lpips_bicubic} when `evaluate`).
  Refuses (UsageError, before writing anything) to replace existing files unless
  `overwrite`. With `panels`, each PNG shows bicubic | model [| original].
  """
  if tile < 0 or tile_pad < 0:
    raise UsageError(f"--tile and --tile-pad must be >= 0, got {tile} and {tile_pad}")
  if lpips and not evaluate:
    raise UsageError("--lpips measures against ground truth: it needs --evaluate")
  distance = None
  if lpips:
    from jaxgan.metrics.lpips import Distance
    distance = Distance.from_files(lpips, lpips_lin)
  files = files_lib.list_inputs(input_path)
  outputs = files_lib.output_paths(files, input_path, out_dir, overwrite)
  from jaxgan.generate import load_run
  config, gan, state = load_run(os.path.abspath(os.path.expanduser(workdir)))
  if gan.superres is None:
    raise UsageError(f"this run's model ({config.model.name}) is not a super-resolution "
                     "model; upscale needs a run of srgan or esrgan")
  import jax
  from jaxgan.train.superres_step import upscale
  scale, channels = gan.superres.scale, config.channels
  from jaxgan.train.state import sampling_params
  params, stats = sampling_params(state), state.g.batch_stats  # the EMA G when the run keeps one
  g = jax.jit(lambda p, s, x: upscale(gan, p, s, x))  # the weights are arguments, not constants
  run = lambda x: g(params, stats, x)
  written, rows = [], []
  for path, out_path in zip(files, outputs):
    pixels = files_lib.read_pixels(path, channels)
    if evaluate:
      sr8, base, row = evaluate_pixels(run, pixels, scale, tile, tile_pad, distance)
      rows.append({"file": path, **row})
      h, w = sr8.shape[:2]
      shown = [base, sr8, pixels[:h, :w]]
    else:
      sr8 = upscale_pixels(run, pixels, scale, tile, tile_pad)
      shown = [bicubic(pixels, sr8.shape[:2]), sr8]
    files_lib.write_png(out_path, np.concatenate(shown, axis=1) if panels else sr8)
    written.append(out_path)
  return written, rows
