"""DCGAN train-step throughput: jaxgan (each conv formulation) beside the PyTorch tutorial.

  python -m benchmarks.dcgan_step [--image-size 64] [--batch-size 128] [--width 64]
                                  [--impls lax,rearranged,torch] [--json OUT]

Same networks, same batch, same machine, in one run. Data are synthetic batches
already in memory, so no TensorFlow is needed. Timed windows alternate between
implementations (noise on a shared machine hits them alike); the median is reported.
"""

import argparse
import functools
import json
import statistics
import time

import jax
import numpy as np


def jaxgan_runner(impl: str, size: int, channels: int, width: int, batch: int):
  import ml_collections
  from jaxgan.train import loop, parallel, steps
  from jaxgan.train.state import init_state
  c = ml_collections.ConfigDict(dict(
      image_size=size, channels=channels, batch_size=batch, conv_impl=impl,
      compute_dtype="float32", loss="dcgan",
      model=dict(name="dcgan", latent_dim=100, g_width=width, d_width=width),
      optimizer_g=dict(name="adam", lr=2e-4, b1=0.5, b2=0.999),
      optimizer_d=dict(name="adam", lr=2e-4, b1=0.5, b2=0.999)))
  gan = loop.build_gan(c)
  mesh = parallel.make_mesh()
  state = parallel.jit_init(functools.partial(init_state, gan, 0, (size, size, channels)), mesh)()
  step = parallel.jit_train_step(functools.partial(steps.gan_train_step, gan=gan), mesh)
  rng = np.random.default_rng(0)
  batch = parallel.global_batch(
      {"image": rng.uniform(-1, 1, (batch, size, size, channels)).astype(np.float32)}, mesh)
  holder = {"state": state}
  t0 = time.perf_counter()
  holder["state"], _ = step(holder["state"], batch)
  jax.block_until_ready(holder["state"])
  compile_s = time.perf_counter() - t0

  def run(n):
    for _ in range(n):
      holder["state"], metrics = step(holder["state"], batch)
    jax.block_until_ready(holder["state"])
  return run, compile_s


def torch_runner(size: int, channels: int, width: int, batch: int, threads: int):
  import torch
  from benchmarks.torch_dcgan import TutorialDiscriminator, TutorialGenerator, make_tutorial_trainer
  if size != 64:
    raise ValueError("the PyTorch tutorial's networks are 64x64 only")
  torch.set_num_threads(threads)
  g, d = TutorialGenerator(ngf=width, nc=channels), TutorialDiscriminator(ndf=width, nc=channels)
  step = make_tutorial_trainer(g, d)
  real = torch.rand(batch, channels, size, size) * 2 - 1
  t0 = time.perf_counter()
  step(real)
  first_s = time.perf_counter() - t0

  def run(n):
    for _ in range(n):
      step(real)
  return run, first_s


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--image-size", type=int, default=64)
  p.add_argument("--channels", type=int, default=3)
  p.add_argument("--width", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--impls", default="lax,rearranged,torch")
  p.add_argument("--steps-per-window", type=int, default=3)
  p.add_argument("--windows", type=int, default=3)
  p.add_argument("--json", default=None)
  a = p.parse_args()
  import os
  threads = len(os.sched_getaffinity(0))
  runners = {}
  for impl in a.impls.split(","):
    if impl == "torch":
      runners[impl] = torch_runner(a.image_size, a.channels, a.width, a.batch_size, threads)
    else:
      runners[impl] = jaxgan_runner(impl, a.image_size, a.channels, a.width, a.batch_size)
  for run, _ in runners.values():  # warm-up
    run(1)
  times = {k: [] for k in runners}
  for _ in range(a.windows):
    for k, (run, _) in runners.items():
      t0 = time.perf_counter()
      run(a.steps_per_window)
      times[k].append((time.perf_counter() - t0) / a.steps_per_window)
  device = jax.devices()[0].device_kind
  records = []
  print(f"DCGAN {a.image_size}x{a.image_size}x{a.channels} width {a.width} batch {a.batch_size} "
        f"on {device} ({threads} CPU threads), jax {jax.__version__}")
  base = statistics.median(times["torch"]) if "torch" in times else None
  print(f"{'impl':12s} {'steps/s':>8s} {'images/s':>9s} {'first step s':>12s} {'vs torch':>8s}")
  for k, ts in times.items():
    sec = statistics.median(ts)
    rec = {"model": f"dcgan{a.image_size}", "impl": "torch" if k == "torch" else f"jaxgan-{k}",
           "device": device, "batch_size": a.batch_size, "precision": "f32",
           "steps_per_s": 1 / sec, "images_per_s": a.batch_size / sec,
           "compile_s": runners[k][1], "window_s": ts}
    records.append(rec)
    ratio = f"{base / sec:.2f}x" if base else "-"
    print(f"{k:12s} {1 / sec:8.3f} {a.batch_size / sec:9.1f} {runners[k][1]:12.1f} {ratio:>8s}")
  if a.json:
    with open(a.json, "w") as f:
      json.dump(records, f, indent=2)


if __name__ == "__main__":
  main()
