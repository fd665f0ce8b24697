"""Files of the editing commands (translate, upscale, inpaint): which inputs, where their
outputs go, reading with Pillow (no TensorFlow) and writing without ever leaving a
half-written or silently replaced file."""

import os

import numpy as np
from PIL import Image

from jaxgan import images as image_lib
from jaxgan.errors import UsageError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def list_inputs(path: str) -> list[str]:
  """An image file, or the image files of a folder (recursively, sorted)."""
  path = os.path.expanduser(path)
  if os.path.isfile(path):
    return [path]
  if not os.path.isdir(path):
    raise UsageError(f"input {path!r} is neither an image file nor a folder")
  files = sorted(os.path.join(root, n) for root, _, names in os.walk(path) for n in names
                 if n.lower().endswith(EXTENSIONS))
  if not files:
    raise UsageError(f"input folder {path!r} holds no {'/'.join(EXTENSIONS)} files")
  return files


def output_paths(files: list[str], input_path: str, out_dir: str, overwrite: bool) -> list[str]:
  """One PNG path under `out_dir` per input (the input's path relative to the input
  folder); UsageError, before anything is written, if any exists and not `overwrite`."""
  root = os.path.expanduser(input_path)

  def one(path):
    rel = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
    return os.path.join(out_dir, os.path.splitext(rel)[0] + ".png")

  outputs = [one(f) for f in files]
  refuse_existing(outputs, overwrite)
  return outputs


def refuse_existing(paths: list[str], overwrite: bool) -> None:
  """UsageError, before anything is written, if any of `paths` exists and not `overwrite`."""
  existing = [p for p in paths if os.path.exists(p)]
  if existing and not overwrite:
    raise UsageError(f"{len(existing)} output file(s) exist already (first: {existing[0]}); "
                     "choose another --out or pass --overwrite")


def read_pixels(path: str, channels: int) -> np.ndarray:
  """uint8 (H, W, channels) of an image file (converted to RGB or greyscale)."""
  try:
    with Image.open(path) as im:
      pixels = np.asarray(im.convert("RGB" if channels == 3 else "L"))
  except OSError as e:
    raise UsageError(f"cannot read image {path!r}: {e}") from None
  return pixels[..., None] if pixels.ndim == 2 else pixels


def to_unit(pixels: np.ndarray) -> np.ndarray:
  """uint8 -> float32 in [-1, 1]."""
  return pixels.astype(np.float32) / 127.5 - 1.0


def write_png(path: str, image: np.ndarray) -> None:
  """Writes float [-1, 1] or uint8 (H, W, C) to `path` via a temporary name and a rename."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  pixels = image if image.dtype == np.uint8 else image_lib.to_uint8(image)
  tmp = path + ".partial.png"
  image_lib.save_png(tmp, pixels)
  os.replace(tmp, path)
