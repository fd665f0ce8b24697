"""`jaxgan inpaint`: a trained inpainting run (DeepFill v2) fills the holes of image files.

Images keep their own size: each is mirror-padded to a multiple of 8 (the generator's
grid; the padding is never a hole) and cropped back, so pixels outside the holes come
out exactly as they went in. Holes come from mask files (white, >= 128, is a hole; a
single file for every image, or a folder holding one per image under the same relative
name), or are drawn as in training (`random_masks`: DeepFill v2's strokes and boxes,
seeded by `seed` and the image's index). With `panels`, each PNG shows the image with its
holes blanked | the result.
"""

import os

import numpy as np

from jaxgan.edit import files as files_lib
from jaxgan.errors import UsageError

MULTIPLE = 8


def read_mask(path: str, shape: tuple[int, int]) -> np.ndarray:
  """float32 (H, W, 1): 1 where the mask file is >= 128 (white), the image's size."""
  pixels = files_lib.read_pixels(path, 1)[..., 0]
  if pixels.shape != shape:
    raise UsageError(f"mask {path!r} is {pixels.shape[1]}x{pixels.shape[0]}, its image "
                     f"{shape[1]}x{shape[0]}; a mask must have its image's size")
  return (pixels >= 128).astype(np.float32)[..., None]


def _mask_for(image_path: str, input_path: str, masks: str) -> str:
  masks = os.path.expanduser(masks)
  if os.path.isfile(masks):
    return masks
  if not os.path.isdir(masks):
    raise UsageError(f"--masks {masks!r} is neither a mask file nor a folder")
  root = os.path.expanduser(input_path)
  rel = os.path.relpath(image_path, root) if os.path.isdir(root) else os.path.basename(image_path)
  stem = os.path.splitext(rel)[0]
  for ext in files_lib.EXTENSIONS:
    candidate = os.path.join(masks, stem + ext)
    if os.path.isfile(candidate):
      return candidate
  raise UsageError(f"no mask for {image_path!r} in {masks!r} (looked for {stem}.png etc.)")


def pad_to_multiple(x: np.ndarray, multiple: int, mode: str) -> np.ndarray:
  h, w = x.shape[:2]
  return np.pad(x, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode=mode)


def inpaint_files(workdir: str, input_path: str, out_dir: str, *, masks: str | None = None,
                  random_masks: bool = False, seed: int = 0, panels: bool = False,
                  overwrite: bool = False) -> list[str]:
  """Inpaints every image under `input_path` into `out_dir`; returns the written paths.

  Exactly one of `masks` (a file or folder) and `random_masks` must be given. Refuses
  (UsageError, before writing anything) to replace existing files unless `overwrite`.
  """
  if (masks is None) == (not random_masks):
    raise UsageError("give the holes: --masks FILE_OR_FOLDER, or --random-masks")
  files = files_lib.list_inputs(input_path)
  outputs = files_lib.output_paths(files, input_path, out_dir, overwrite)
  mask_files = [_mask_for(f, input_path, masks) for f in files] if masks else None
  from jaxgan.generate import load_run
  config, gan, state = load_run(os.path.abspath(os.path.expanduser(workdir)))
  if gan.inpaint is None:
    raise UsageError(f"this run's model ({config.model.name}) is not an inpainting model; "
                     "inpaint needs a run of deepfill")
  import jax
  from jaxgan.data import masks as masks_lib
  from jaxgan.train.inpaint_step import inpaint
  g = jax.jit(lambda p, x, m: inpaint(gan, p, {}, x, m))  # the weights are arguments
  written = []
  for i, (path, out_path) in enumerate(zip(files, outputs)):
    image = files_lib.to_unit(files_lib.read_pixels(path, config.channels))
    h, w = image.shape[:2]
    if mask_files:
      hole = read_mask(mask_files[i], (h, w))
    else:  # training's masks are square: draw one on the long side and crop it
      side = -(-max(h, w) // MULTIPLE) * MULTIPLE
      hole = np.asarray(masks_lib.random_masks(jax.random.PRNGKey(seed), np.array([i]), side,
                                               gan.inpaint.masks))[0, :h, :w]
    x = pad_to_multiple(image, MULTIPLE, "symmetric")
    m = pad_to_multiple(hole, MULTIPLE, "constant")  # padding: known pixels, never holes
    out = np.asarray(g(state.g.params, x[None], m[None]))[0, :h, :w]
    out = np.where(hole > 0, out, image)  # outside the holes: the input's values, exactly
    shown = np.concatenate([image * (1 - hole), out], axis=1) if panels else out  # holes grey
    files_lib.write_png(out_path, shown)
    written.append(out_path)
  return written
