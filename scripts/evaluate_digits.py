"""Judges a digits run: are its samples recognisable digits, of all ten classes?

  python scripts/evaluate_digits.py --workdir runs/digits [--num 2000] [--step S]

Prints the figures of jaxgan.metrics.digits for the run's generator, for the same
generator untrained (its initial parameters) and for the real digits.
"""

import argparse
import functools
import json

import jax

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.generate import load_run
from jaxgan.metrics import digits
from jaxgan.train import loop
from jaxgan.train.state import init_state


def evaluate(workdir: str, num: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
  config, gan, state = load_run(workdir)
  untrained = jax.jit(functools.partial(init_state, gan, config.seed, loop.image_shape(config)))()
  rows = {}
  for name, s in (("trained", state), ("untrained", untrained)):
    x = sampling.generate_images(gan.generator, s.g.params, s.g.batch_stats, num=num, seed=seed)
    rows[name] = digits.digits_report(image_lib.to_uint8(x))
  rows["real digits"] = digits.digits_report(digits.real_digits_uint8(config.image_size))
  return rows


def parse_args(description: str) -> argparse.Namespace:
  """--workdir, --num, --seed, --json: the flags of both digits judges."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--num", type=int, default=2000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--json", default=None, help="also write the figures here")
  return parser.parse_args()


def write_json(path: str | None, rows: dict) -> None:
  if path:
    with open(path, "w") as f:
      json.dump(rows, f, indent=2)


def main() -> None:
  args = parse_args(__doc__.splitlines()[0])
  rows = evaluate(args.workdir, args.num, args.seed)
  print(f"{'':12s} {'confidence':>10s} {'coverage':>8s} {'class_kl':>8s} {'digits_is':>9s}")
  for name, r in rows.items():
    print(f"{name:12s} {r['confidence']:10.3f} {r['coverage']:8d} {r['class_kl']:8.3f} "
          f"{r['digits_is']:9.2f}")
  write_json(args.json, rows)


if __name__ == "__main__":
  main()
