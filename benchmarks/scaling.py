"""Data-parallel scaling: steps/s and images/s of the sharded and pmap steps against device count.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m benchmarks.scaling \\
      [--devices 1,2,4,8] [--batch-size 64] [--image-size 32] [--width 32] [--json OUT]

The global batch is fixed, so on real accelerators steps/s should grow with the device
count. On simulated CPU devices all "devices" share the same cores: the ratio to one
device measures the partitioning and collective overhead alone.
"""

import argparse
import functools
import json
import statistics
import time

import jax
import ml_collections
import numpy as np

from jaxgan.train import loop, parallel, steps
from jaxgan.train.state import init_state


def _config(a) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      image_size=a.image_size, channels=1, batch_size=a.batch_size, conv_impl="auto", compute_dtype="float32",
      loss="dcgan", model=dict(name="dcgan", latent_dim=100, g_width=a.width, d_width=a.width),
      optimizer_g=dict(name="adam", lr=2e-4, b1=0.5, b2=0.999),
      optimizer_d=dict(name="adam", lr=2e-4, b1=0.5, b2=0.999)))


def measure(mode: str, num_devices: int, a) -> dict:
  c = _config(a)
  gan = loop.build_gan(c, bn_axis_name=parallel.PMAP_AXIS if mode == "pmap" else None)
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)
  state = runner.init(functools.partial(init_state, gan, 0, (a.image_size, a.image_size, 1)))
  batch = {"image": np.random.default_rng(0).uniform(
      -1, 1, (a.batch_size, a.image_size, a.image_size, 1)).astype(np.float32)}
  t0 = time.perf_counter()
  state, _ = runner.step(state, batch)
  jax.block_until_ready(state)
  compile_s = time.perf_counter() - t0
  windows = []
  for _ in range(a.windows):
    t0 = time.perf_counter()
    for _ in range(a.steps_per_window):
      state, _ = runner.step(state, batch)
    jax.block_until_ready(state)
    windows.append((time.perf_counter() - t0) / a.steps_per_window)
  sec = statistics.median(windows)
  return {"model": f"dcgan{a.image_size}", "impl": f"jaxgan-{mode}", "device": jax.devices()[0].device_kind,
          "n_devices": num_devices, "batch_size": a.batch_size, "precision": "f32",
          "steps_per_s": 1 / sec, "images_per_s": a.batch_size / sec, "compile_s": compile_s}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--devices", default="1,2,4,8")
  p.add_argument("--modes", default="sharded,pmap")
  p.add_argument("--batch-size", type=int, default=64)
  p.add_argument("--image-size", type=int, default=32)
  p.add_argument("--width", type=int, default=32)
  p.add_argument("--windows", type=int, default=3)
  p.add_argument("--steps-per-window", type=int, default=10)
  p.add_argument("--json", default=None)
  a = p.parse_args()
  counts = [n for n in map(int, a.devices.split(",")) if n <= jax.device_count()]
  records = [measure(mode, n, a) for mode in a.modes.split(",") for n in counts]
  base = {r["impl"]: r["steps_per_s"] for r in records if r["n_devices"] == counts[0]}
  print(f"DCGAN {a.image_size}x{a.image_size}x1 width {a.width}, global batch {a.batch_size}, "
        f"{records[0]['device']}, jax {jax.__version__}")
  print(f"{'impl':16s} {'devices':>7s} {'steps/s':>8s} {'images/s':>9s} {'vs 1':>6s} {'compile s':>9s}")
  for r in records:
    print(f"{r['impl']:16s} {r['n_devices']:7d} {r['steps_per_s']:8.2f} {r['images_per_s']:9.1f} "
          f"{r['steps_per_s'] / base[r['impl']]:6.2f} {r['compile_s']:9.1f}")
  if a.json:
    with open(a.json, "w") as f:
      json.dump(records, f, indent=2)


if __name__ == "__main__":
  main()
