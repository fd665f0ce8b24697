"""Judges a DeepFill digits run (experiments/deepfill_digits.py) on digits it did not train on.

  python scripts/evaluate_inpainting_digits.py --workdir runs/deepfill_digits
      [--split 'train[1600:]'] [--grid held_out.png]

Every held-out digit gets a hole drawn as in training (DeepFill v2's strokes and box,
seeded by --seed and the digit's index, the same for every run judged), and is filled by:
  trained     the run's generator (its refined output pasted into the hole)
  untrained   the same generator at initialisation
  grey        the hole left mid-grey
  blur        each hole pixel the mean of the known pixels in a 9x9 window (a classic fill)
Figures, against the complete digit:
  hole_l1     mean |fill - digit| over hole pixels, on [0, 1]
  psnr_db     mean PSNR of the whole 32x32 images (peak 1)
  same_class  how often the digits classifier (jaxgan.metrics.digits) gives the filled digit
              the class it gives the complete one
"""

import argparse
import functools
import json

import jax
import numpy as np
from scipy import ndimage

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.data import masks, pipeline
from jaxgan.generate import load_run
from jaxgan.metrics import digits
from jaxgan.train import loop
from jaxgan.train.inpaint_step import inpaint
from jaxgan.train.state import init_state


def report(filled: np.ndarray, complete: np.ndarray, holes: np.ndarray) -> dict:
  """Figures of float (N, H, W, 1) fills and complete digits in [-1, 1] (module doc)."""
  f01, c01 = (filled + 1) / 2, (complete + 1) / 2
  mse = np.mean((f01 - c01) ** 2, axis=(1, 2, 3))
  judge = digits._classifier()
  p = judge.predict(digits.to_digit_features(image_lib.to_uint8(filled)))
  c = judge.predict(digits.to_digit_features(image_lib.to_uint8(complete)))
  return {"hole_l1": float(np.sum(np.abs(f01 - c01) * holes) / np.sum(holes)),
          "psnr_db": float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))),
          "same_class": float(np.mean(p == c))}


def blur_fill(images: np.ndarray, holes: np.ndarray, size: int = 9) -> np.ndarray:
  """Hole pixels := mean of the known pixels in a size x size window (grey if none)."""
  known = 1.0 - holes
  sums = ndimage.uniform_filter(images * known, size=(1, size, size, 1), mode="constant")
  counts = ndimage.uniform_filter(known, size=(1, size, size, 1), mode="constant")
  fill = np.where(counts > 1e-6, sums / np.maximum(counts, 1e-6), 0.0)
  return images * known + fill * holes


def evaluate(workdir: str, split: str, seed: int = 0, grid: str | None = None) -> dict:
  config, gan, state = load_run(workdir)
  config.split = split
  n = pipeline._encoded_records(config, autocache=False)[1]
  complete = pipeline.first_images(config, n)
  holes = np.asarray(masks.random_masks(jax.random.PRNGKey(seed), np.arange(n),
                                        config.image_size, gan.inpaint.masks))
  untrained = jax.jit(functools.partial(init_state, gan, config.seed, loop.image_shape(config)))()
  run = jax.jit(lambda p, x, m: inpaint(gan, p, {}, x, m))
  rows = {"num_digits": {"n": n, "split": split, "step": int(state.step),
                         "hole_fraction": float(holes.mean())}}
  trained = np.asarray(run(state.g.params, complete, holes))
  rows["trained"] = report(trained, complete, holes)
  rows["untrained"] = report(np.asarray(run(untrained.g.params, complete, holes)), complete, holes)
  rows["grey"] = report(complete * (1 - holes), complete, holes)
  rows["blur"] = report(blur_fill(complete, holes), complete, holes)
  if grid:
    panels = sampling.translation_panels(complete[:16] * (1 - holes[:16]), trained[:16],
                                         complete[:16])
    image_lib.save_png(grid, image_lib.make_grid(image_lib.to_uint8(panels), ncols=4))
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--split", default="train[1600:]", help="digits held out from training")
  parser.add_argument("--seed", type=int, default=0, help="seed of the holes")
  parser.add_argument("--json", default=None)
  parser.add_argument("--grid", default=None, help="PNG of 16 held-out holes|fill|digit")
  args = parser.parse_args()
  rows = evaluate(args.workdir, args.split, args.seed, args.grid)
  print(rows.pop("num_digits"))
  print(f"{'':10s} {'hole_l1':>7s} {'psnr_db':>7s} {'same_class':>10s}")
  for name, r in rows.items():
    print(f"{name:10s} {r['hole_l1']:7.3f} {r['psnr_db']:7.2f} {r['same_class']:10.3f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=2)


if __name__ == "__main__":
  main()
