"""What each ADA pipeline (jaxgan.ada) costs on its own: forward and backward (D's loss
reaches G through it) of a batch of images, the presets timed side by side in one process
(interleaved windows, median), as ratios to the first one.

  python -m benchmarks.ada_pipeline [--pipes bgc,bgcf,bgcfnc] [--p 0,0.6] [--size 64]
      [--batch 16] [--channels 3] [--windows 5] [--iters 10]

Needs neither TensorFlow nor data: random images, values drawn by the pipeline itself.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from jaxgan import ada


def make_timed(pipe: ada.AugmentPipe, p: float, shape: tuple[int, ...]):
  """A jitted function: images -> gradient of sum(pipe(images)) with fresh draws."""
  def loss(x, key):
    return jnp.sum(pipe.apply(x, pipe.sample(key, shape[0], p)) ** 2)
  return jax.jit(jax.grad(loss))


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--pipes", default="bgc,bgcf,bgcfnc")
  ap.add_argument("--p", default="0,0.6")
  ap.add_argument("--size", type=int, default=64)
  ap.add_argument("--batch", type=int, default=16)
  ap.add_argument("--channels", type=int, default=3)
  ap.add_argument("--windows", type=int, default=5)
  ap.add_argument("--iters", type=int, default=10)
  args = ap.parse_args(argv)
  shape = (args.batch, args.size, args.size, args.channels)
  x = jax.random.uniform(jax.random.PRNGKey(0), shape, minval=-1, maxval=1)
  pipes = args.pipes.split(",")
  print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}; fwd+bwd of {shape}")
  for p in (float(v) for v in args.p.split(",")):
    fns = {name: make_timed(ada.AugmentPipe.from_name(name), p, shape) for name in pipes}
    for fn in fns.values():
      fn(x, jax.random.PRNGKey(1)).block_until_ready()  # compile
    times = {name: [] for name in pipes}
    for w in range(args.windows):
      for name, fn in fns.items():  # interleaved: drift hits every pipe alike
        start = time.perf_counter()
        for i in range(args.iters):
          out = fn(x, jax.random.PRNGKey(w * args.iters + i))
        out.block_until_ready()
        times[name].append((time.perf_counter() - start) / args.iters)
    base = statistics.median(times[pipes[0]])
    for name in pipes:
      ms = statistics.median(times[name]) * 1e3
      print(f"p={p:<4} {name:8s} {ms:8.1f} ms  {ms / (base * 1e3):.2f}x {pipes[0]}")


if __name__ == "__main__":
  main()
