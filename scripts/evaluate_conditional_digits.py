"""Does a class-conditional digits run draw the class it is asked for?

  python scripts/evaluate_conditional_digits.py --workdir runs/cgan [--num 2000] [--json F]

Sample i is asked for class i mod 10 (the sampling weights `jaxgan generate` uses: the
EMA generator when the run keeps one). The logistic-regression classifier of
jaxgan.metrics.digits, trained on the real digits, labels each sample; printed: how often
it agrees with the requested class, overall and per class, beside the same figure for the
untrained generator (chance: ~0.1) and for the real digits with their true labels (the
classifier's own accuracy: the ceiling).
"""

import functools
import os
import sys

import jax
import numpy as np
from sklearn.datasets import load_digits

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.generate import load_run
from jaxgan.metrics import digits
from jaxgan.train import build
from jaxgan.train.state import init_state, sampling_params

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate_digits  # noqa: E402  (the shared flags)


def evaluate(workdir: str, num: int = 2000, seed: int = 0) -> dict[str, dict]:
  config, gan, state = load_run(workdir)
  if not gan.num_classes:
    raise SystemExit(f"error: {workdir} holds an unconditional model")
  untrained = jax.jit(functools.partial(init_state, gan, config.seed,
                                        build.image_shape(config)))()
  labels = np.arange(num) % gan.num_classes
  rows = {}
  for name, s in (("trained", state), ("untrained", untrained)):
    x = sampling.generate_samples(gan.generator, sampling_params(s), s.g.batch_stats,
                                  num=num, seed=seed, labels=labels)
    rows[name] = digits.label_agreement(image_lib.to_uint8(x), labels)
  rows["real digits"] = digits.label_agreement(digits.real_digits_uint8(config.image_size),
                                               load_digits().target)
  return rows


def main() -> None:
  args = evaluate_digits.parse_args(__doc__.splitlines()[0])
  rows = evaluate(args.workdir, args.num, args.seed)
  print(f"{'':12s} {'agreement':>9s}  per class 0..9")
  for name, r in rows.items():
    print(f"{name:12s} {r['agreement']:9.3f}  " + " ".join(f"{v:.2f}" for v in r["per_class"]))
  evaluate_digits.write_json(args.json, rows)


if __name__ == "__main__":
  main()
