"""`jaxgan translate`: a trained translation model (pix2pix) applied to image files.

Reads PNG/JPEG/BMP/GIF files with Pillow (no TensorFlow), centre-crops each to a square and
resizes it to the run's image_size, as the training pipeline does, translates them in
fixed-size batches (one compilation) and writes one PNG per input. `paired=True` reads
files in pix2pix's side-by-side format (A | B) and takes the input half the run was
trained from (config.direction); with `panels` the PNG shows input | output [| target].

`mode="paper"` is the paper's inference: BatchNorm normalises with the statistics of the
image itself and dropout stays on (it is the generator's noise), as the authors' test.py
does at batch 1. `mode="eval"` uses the running statistics, no dropout. The default,
"auto", is "paper" for runs trained at batch 1 and "eval" otherwise (translation_step.py).
"""

import os

import numpy as np
from PIL import Image

from jaxgan import sampling
from jaxgan.edit import files as files_lib
from jaxgan.errors import UsageError

def load_image(path: str, size: int, channels: int) -> np.ndarray:
  """float32 (size, size, channels) in [-1, 1]: centre square crop, antialiased resize."""
  try:
    with Image.open(path) as im:
      im = im.convert("RGB" if channels == 3 else "L")
  except OSError as e:
    raise UsageError(f"cannot read image {path!r}: {e}") from None
  return _square_resized(np.asarray(im), size)


def _square_resized(pixels: np.ndarray, size: int) -> np.ndarray:
  h, w = pixels.shape[:2]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  crop = Image.fromarray(pixels[top:top + side, left:left + side])
  out = np.asarray(crop.resize((size, size), Image.BILINEAR), np.float32)
  out = out[..., None] if out.ndim == 2 else out
  return out / 127.5 - 1.0


def load_pair(path: str, size: int, in_channels: int, channels: int,
              direction: str) -> tuple[np.ndarray, np.ndarray]:
  """(input, target) from a side-by-side A | B file, per the run's direction."""
  try:
    with Image.open(path) as im:
      rgb = np.asarray(im.convert("RGB"))
  except OSError as e:
    raise UsageError(f"cannot read image {path!r}: {e}") from None
  if rgb.shape[1] % 2:
    raise UsageError(f"{path!r} is {rgb.shape[1]} pixels wide: a side-by-side A | B pair "
                     "must have an even width")
  half = rgb.shape[1] // 2
  a, b = rgb[:, :half], rgb[:, half:]
  src, dst = (a, b) if direction == "AtoB" else (b, a)

  def as_channels(p, c):
    return p if c == 3 else np.asarray(Image.fromarray(p).convert("L"))
  return (_square_resized(as_channels(src, in_channels), size),
          _square_resized(as_channels(dst, channels), size))


def translate_files(workdir: str, input_path: str, out_dir: str, *, paired: bool = False,
                    panels: bool = False, mode: str = "auto", seed: int = 0,
                    batch_size: int = 16, overwrite: bool = False,
                    direction: str | None = None) -> list[str]:
  """Translates every image under `input_path` into `out_dir`; returns the written paths.

  `direction` ("AtoB" or "BtoA"): a CycleGAN run's generator (G_A or G_B; default AtoB);
  a pix2pix run has one, trained in its config's direction.

  Refuses (UsageError, before writing anything) to replace existing files unless
  `overwrite`; each PNG is written to a temporary name and renamed into place.
  """
  from jaxgan.train.translation_step import INFERENCE_MODES, inference_mode, translate
  if mode not in INFERENCE_MODES:
    raise UsageError(f"unknown --mode {mode!r}; valid: {', '.join(INFERENCE_MODES)}")
  if batch_size < 1:
    raise UsageError(f"--batch-size must be positive, got {batch_size}")
  files = files_lib.list_inputs(input_path)
  outputs = files_lib.output_paths(files, input_path, out_dir, overwrite)
  from jaxgan.generate import load_run
  from jaxgan.train import build
  config, gan, state = load_run(os.path.abspath(os.path.expanduser(workdir)))
  if not build.is_translation(config):
    command = build.edit_command(config) or "generate"
    raise UsageError(f"this run's model ({config.model.name}) does not translate images; "
                     f"use `jaxgan {command}`")
  import jax
  from jaxgan import models
  mode = inference_mode(mode, config.batch_size)
  size, c_in, c_out = config.image_size, models.input_channels(config), config.channels
  method = None
  if gan.cycle is not None:
    direction = direction or "AtoB"
    if direction not in ("AtoB", "BtoA"):
      raise UsageError(f"unknown --direction {direction!r}; valid: AtoB, BtoA")
    method = "a_to_b" if direction == "AtoB" else "b_to_a"
    if direction == "BtoA":
      c_in, c_out = c_out, c_in
  elif direction not in (None, config.get("direction", "AtoB")):
    raise UsageError(f"this pix2pix run translates {config.get('direction', 'AtoB')} only; "
                     f"--direction {direction} needs a CycleGAN run")
  else:
    direction = config.get("direction", "AtoB")
  run = jax.jit(lambda p, s, x, start: translate(gan, p, s, x, jax.random.PRNGKey(seed),
                                                 mode=mode, first_index=start, method=method))
  params, stats = state.g.params, state.g.batch_stats
  written = []
  for start in range(0, len(files), batch_size):
    chunk = files[start:start + batch_size]
    if paired:
      pairs = [load_pair(f, size, c_in, c_out, direction) for f in chunk]
      x = np.stack([p[0] for p in pairs])
      targets = np.stack([p[1] for p in pairs])
    else:
      x, targets = np.stack([load_image(f, size, c_in) for f in chunk]), None
    n = len(chunk)
    padded = np.concatenate([x, np.repeat(x[-1:], batch_size - n, 0)]) if n < batch_size else x
    y = run(params, stats, padded, start)
    y = np.asarray(y)[:n]
    shown = sampling.translation_panels(x, y, targets) if panels else y
    for image, path in zip(shown, outputs[start:start + n]):
      files_lib.write_png(path, image)
      written.append(path)
  return written
