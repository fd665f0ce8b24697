"""A convolution's gradients inside lax.scan and lax.cond against outside them, per conv impl:
XLA:CPU runs its own kernel-gradient convolution far slower inside a loop or a branch (grad
accumulation runs in lax.scan, StyleGAN2's lazy regularisers in lax.cond);
jaxgan's CPU forms (layers.torch_conv2d, impl "rearranged") compute it as matmuls.

  python -m benchmarks.conv_in_loop [--size 32] [--channels 64] [--batch-size 16]
                                    [--repeats 3] [--json OUT]

For stride 1 and 2 (3x3, padding 1) it times, jitted: the parameter gradient of two
micro-batches summed in straight-line code, the same in a two-iteration lax.scan, and one
micro-batch's gradient in a lax.cond branch against the same outside it. Median ms.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models import layers


def _ms(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return 1e3 * statistics.median(times)


def measure(size: int, channels: int, batch: int, repeats: int) -> list[dict]:
  kx, kk = jax.random.split(jax.random.PRNGKey(0))
  xs = jax.random.normal(kx, (2, batch, size, size, channels))
  kernel = 0.05 * jax.random.normal(kk, (3, 3, channels, channels))
  out = []
  for impl in ("lax", "rearranged"):
    for stride in (1, 2):
      grad = jax.grad(lambda k, x: jnp.sum(jnp.sin(
          layers.torch_conv2d(x, k, stride, 1, impl))))
      runs = {
          "straight": jax.jit(lambda k, xs: grad(k, xs[0]) + grad(k, xs[1])),
          "scan": jax.jit(lambda k, xs: lax.scan(lambda c, x: (c + grad(k, x), None),
                                                 jnp.zeros_like(k), xs)[0]),
          "one": jax.jit(lambda k, xs: grad(k, xs[0])),
          "cond": jax.jit(lambda k, xs: lax.cond(jnp.sum(xs[0, 0, 0, 0]) > -1e30,
                                                 lambda: grad(k, xs[0]),
                                                 lambda: jnp.zeros_like(k))),
      }
      ms = {name: _ms(fn, kernel, xs, repeats=repeats) for name, fn in runs.items()}
      print(f"{impl:10s} stride {stride}: two grads {ms['straight']:8.1f} ms, in lax.scan "
            f"{ms['scan']:8.1f} ms | one grad {ms['one']:8.1f} ms, in lax.cond "
            f"{ms['cond']:8.1f} ms", flush=True)
      out.append(dict(impl=impl, stride=stride, size=size, channels=channels, batch_size=batch,
                      ms=ms))
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--size", type=int, default=32)
  p.add_argument("--channels", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=16)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--json", default=None)
  a = p.parse_args(argv)
  print(f"# {jax.devices()[0].device_kind}, {a.size}x{a.size}x{a.channels} -> {a.channels}, "
        f"3x3, micro-batch {a.batch_size}, median of {a.repeats}")
  records = measure(a.size, a.channels, a.batch_size, a.repeats)
  if a.json:
    with open(a.json, "w") as f:
      json.dump(dict(device=jax.devices()[0].device_kind, jax=jax.__version__, records=records),
                f, indent=1)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
