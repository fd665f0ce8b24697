"""The 2-D mode-collapse benchmark: GAN variants x {ring, grid} x seeds -> a markdown table.

Each run trains experiments/toy_{ring,grid}.py with the variant's config fields through
the library's own train step (jaxgan.train.steps.gan_train_step), then draws 2,500
samples (from the EMA generator when the variant keeps one) and scores them with
jaxgan.metrics.toy2d. For speed the whole run is one compiled program: the seeds are
vmapped, the steps are a lax.scan, and each step's batch is drawn from the mixture in
JAX (same distribution as jaxgan/data/toy2d.py, whose NumPy stream `jaxgan train` uses).

  python scripts/toy_benchmark.py --out toy_results.md [--seeds 5] [--variants ns,hinge_sn]
"""

import argparse
import functools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from jaxgan import config as config_lib  # noqa: E402
from jaxgan.data import toy2d  # noqa: E402
from jaxgan.metrics import toy2d as toy_metrics  # noqa: E402
from jaxgan.train import build, steps  # noqa: E402
from jaxgan.train.state import init_state, sampling_params  # noqa: E402

# name -> (label, config overrides). Hyperparameters: see README "2-D mode collapse".
VARIANTS = {
    "ns": ("non-saturating (NS)", {"loss": "non_saturating"}),
    "minimax": ("minimax (saturating)", {"loss": "minimax"}),
    "lsgan": ("least squares (LSGAN)", {"loss": "least_squares"}),
    "wgan_gp": ("WGAN-GP (lambda 0.1, n_critic 5)",
                {"loss": "wasserstein", "penalty": "gp", "penalty_weight": "0.1", "n_critic": "5"}),
    "hinge_sn": ("hinge + spectral norm", {"loss": "hinge", "model.spectral_norm": "true"}),
    "ns_r1": ("NS + R1 (gamma 0.1)", {"loss": "non_saturating", "penalty": "r1",
                                     "penalty_weight": "0.1"}),
    "ragan": ("relativistic average", {"loss": "relativistic_average"}),
    "pacgan2": ("NS + packing m=2 (PacGAN2)", {"loss": "non_saturating", "model.pack": "2"}),
}
DATASETS = ("toy_ring", "toy_grid")
NUM_EVAL = 2500


def make_config(dataset: str, overrides: dict, steps_override: int | None):
  name = "toy_ring.py" if dataset == "toy_ring" else "toy_grid.py"
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", name))
  overrides = dict(overrides)
  n_critic = int(overrides.get("n_critic", 1))
  overrides.setdefault("batch_size", str(c.batch_size * n_critic))  # per-D-update batch kept
  if steps_override:
    overrides["num_train_steps"] = str(steps_override)
  config_lib.apply_overrides(c, overrides)
  return c


def _jax_batch(key, centres, std, n):
  k1, k2 = jax.random.split(key)
  idx = jax.random.randint(k1, (n,), 0, centres.shape[0])
  return centres[idx] + std * jax.random.normal(k2, (n, 2))


def train_and_sample(config, seeds: list[int]) -> np.ndarray:
  """Trains one run per seed (vmapped); returns their samples float32 (S, NUM_EVAL, 2)."""
  gan = build.build_gan(config)
  centres, std = toy2d.modes(config.dataset)
  centres = jnp.asarray(centres, jnp.float32)
  step_fn = functools.partial(steps.gan_train_step, gan=gan)

  def one_run(seed):
    state = init_state(gan, seed, (2,))
    data_key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xDA7A)

    def body(state, i):
      batch = {"image": _jax_batch(jax.random.fold_in(data_key, i), centres, std,
                                   config.batch_size)}
      state, metrics = step_fn(state, batch)
      return state, metrics["d_loss"]

    state, _ = jax.lax.scan(body, state, jnp.arange(config.num_train_steps))
    z = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), 0xE7A1),
                          (NUM_EVAL, gan.latent_dim))
    return gan.generator.apply({"params": sampling_params(state), "batch_stats": {}}, z,
                               train=False)

  return np.asarray(jax.jit(jax.vmap(one_run))(jnp.asarray(seeds)))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default="toy_results.md")
  p.add_argument("--seeds", type=int, default=5)
  p.add_argument("--variants", default=",".join(VARIANTS))
  p.add_argument("--datasets", default=",".join(DATASETS))
  p.add_argument("--steps", type=int, default=0, help="override num_train_steps")
  args = p.parse_args(argv)
  seeds = list(range(args.seeds))
  rows, raw = [], {}
  for v in args.variants.split(","):
    label, overrides = VARIANTS[v]
    row = [label]
    for ds in args.datasets.split(","):
      c = make_config(ds, overrides, args.steps)
      t = time.perf_counter()
      samples = train_and_sample(c, seeds)
      secs = time.perf_counter() - t
      reports = [toy_metrics.mode_report(s, ds) for s in samples]
      raw[f"{v}/{ds}"] = {"reports": reports, "seconds": secs, "steps": c.num_train_steps}
      k = len(toy2d.modes(ds)[0])
      modes = np.mean([r["modes"] for r in reports])
      hq = np.mean([r["high_quality"] for r in reports])
      kl = np.mean([r["reverse_kl"] for r in reports])
      full = sum(r["modes"] == k and r["high_quality"] > 0.8 for r in reports)
      row += [f"{modes:.1f}", f"{100 * hq:.1f}%", f"{kl:.2f}", f"{full}/{len(seeds)}"]
      print(f"{v:10s} {ds:9s} modes {modes:5.1f}/{k} hq {100 * hq:5.1f}% rkl {kl:.3f} "
            f"all-modes&hq>80%: {full}/{len(seeds)} ({secs:.0f} s for {len(seeds)} seeds)",
            flush=True)
    rows.append(row)
  header = ("| variant | ring modes (of 8) | ring high-quality | ring reverse KL | ring seeds 8/8 & >80% "
            "| grid modes (of 25) | grid high-quality | grid reverse KL | grid seeds 25/25 & >80% |")
  lines = [header, "|" + " --- |" * 9] + ["| " + " | ".join(r) + " |" for r in rows]
  with open(args.out, "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
    json.dump(raw, f, indent=1)
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
