"""Judges an edges2digits translation run (pix2pix, or CycleGAN's G_A) on pairs it did not train on.

  python scripts/evaluate_pix2pix_digits.py --workdir runs/pix2pix_digits [--split 'train[1600:]']
      [--grid held_out.png]

For every pair of the split: G(edges) in the paper's inference mode (per-image BatchNorm
statistics, dropout on) and in eval mode (running statistics), against the target digit:
  l1          mean |output - target| on [0, 1] pixels
  psnr_db     mean PSNR of the 32x32 images (peak 1)
  same_class  how often the digits classifier (jaxgan.metrics.digits) gives the output the
              class it gives the target: is the translated digit still that digit?
  confidence  the classifier's mean max probability on the outputs (real digits ~0.97)
Rows for the same generator untrained and for the edge maps themselves give the floor.
"""

import argparse
import functools
import json

import jax
import numpy as np

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.data import paired
from jaxgan.generate import load_run
from jaxgan.metrics import digits
from jaxgan.train import loop
from jaxgan.train.state import init_state
from jaxgan.train.translation_step import inference_mode, translate


def report(outputs: np.ndarray, targets: np.ndarray) -> dict:
  """Figures of float (N, H, W, 1) outputs and targets in [-1, 1] (see the module doc)."""
  out01, tgt01 = (outputs + 1) / 2, (targets + 1) / 2
  mse = np.mean((out01 - tgt01) ** 2, axis=(1, 2, 3))
  judge = digits._classifier()
  p_out = judge.predict_proba(digits.to_digit_features(image_lib.to_uint8(outputs)))
  c_tgt = judge.predict(digits.to_digit_features(image_lib.to_uint8(targets)))
  return {"l1": float(np.mean(np.abs(out01 - tgt01))),
          "psnr_db": float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))),
          "same_class": float(np.mean(p_out.argmax(1) == c_tgt)),
          "confidence": float(p_out.max(1).mean())}


def evaluate(workdir: str, split: str, seed: int = 0, grid: str | None = None) -> dict[str, dict]:
  """The module doc's rows; `grid`: also a PNG of the first 16 held-out pairs as
  input | output (the run's default inference mode) | target."""
  config, gan, state = load_run(workdir)
  config.split = split
  if gan.cycle is not None:  # a CycleGAN run: judge G_A (edges -> digits) on true pairs
    config.task, config.direction, config.input_key = "paired", "AtoB", "input"
  method = "a_to_b" if gan.cycle is not None else None
  inputs, targets = paired.paired_examples(config, paired.count_pairs(config))
  untrained = jax.jit(functools.partial(init_state, gan, config.seed, loop.image_shape(config)))()
  key = jax.random.PRNGKey(seed)
  run = {m: jax.jit(functools.partial(translate, gan, mode=m, method=method))
         for m in ("paper", "eval")}
  rows = {"num_pairs": {"n": len(inputs), "split": split, "step": int(state.step)}}
  for name, s, mode in (("trained (paper)", state, "paper"), ("trained (eval)", state, "eval"),
                        ("untrained (paper)", untrained, "paper")):
    out = np.asarray(run[mode](s.g.params, s.g.batch_stats, inputs, key))
    rows[name] = report(out, targets)
    if grid and mode == inference_mode("auto", config.batch_size) and s is state:
      panels = sampling.translation_panels(inputs[:16], out[:16], targets[:16])
      image_lib.save_png(grid, image_lib.make_grid(image_lib.to_uint8(panels), ncols=4))
  rows["edges as output"] = report(inputs, targets)
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--split", default="train[1600:]", help="pairs held out from training")
  parser.add_argument("--seed", type=int, default=0, help="dropout noise of the paper mode")
  parser.add_argument("--json", default=None)
  parser.add_argument("--grid", default=None, help="PNG of 16 held-out input|output|target")
  args = parser.parse_args()
  rows = evaluate(args.workdir, args.split, args.seed, args.grid)
  print(rows.pop("num_pairs"))
  print(f"{'':18s} {'l1':>6s} {'psnr_db':>7s} {'same_class':>10s} {'confidence':>10s}")
  for name, r in rows.items():
    print(f"{name:18s} {r['l1']:6.3f} {r['psnr_db']:7.2f} {r['same_class']:10.3f} "
          f"{r['confidence']:10.3f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=2)


if __name__ == "__main__":
  main()
