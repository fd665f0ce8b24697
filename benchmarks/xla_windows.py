"""XLA:CPU's convolution on an unpadded window against the same window padded and cropped
(and a 1x1 window against a matmul): why cpu_conv._window pads.

  python -m benchmarks.xla_windows [--repeats 7] [--json OUT] [--small]

Shapes are the unpadded windows jaxgan's CPU steps compiled before `_window`: CycleGAN's
reflection-padded residual 3x3s, SNGAN's 1x1 shortcuts, StyleGAN2's 1x1 skips and to-RGB,
its sub-pixel 2x2 and its 3x3 stride-2 down-convolutions, and a DCGAN-sized 2x2. Forward
only, float32, median of interleaved calls; each form is checked equal to the unpadded one
before it is timed.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.models import cpu_conv

_NHWC = ("NHWC", "HWIO", "NHWC")
# (what, batch, side, C_in, C_out, k, stride)
SHAPES = [("CycleGAN residual", 1, 66, 256, 256, 3, 1),
          ("CycleGAN sub-pixel up", 1, 129, 128, 256, 2, 1),
          ("SNGAN 3x3 (if unpadded)", 64, 34, 128, 128, 3, 1),
          ("SNGAN 1x1 shortcut", 64, 32, 128, 256, 1, 1),
          ("StyleGAN2 to-RGB", 16, 64, 256, 3, 1, 1),
          ("StyleGAN2 1x1 skip", 16, 64, 128, 256, 1, 1),
          ("StyleGAN2 down 3x3 s2", 16, 65, 256, 256, 3, 2),
          ("StyleGAN2 down 3x3 s2", 16, 33, 512, 512, 3, 2),
          ("2x2 at batch 128", 128, 17, 512, 256, 2, 1)]


def _unpadded(stride):
  return jax.jit(lambda x, k: lax.conv_general_dilated(x, k, (stride, stride), "VALID",
                                                       dimension_numbers=_NHWC))


def _padded_cropped(stride):
  return jax.jit(lambda x, k: lax.conv_general_dilated(
      x, k, (stride, stride), ((stride, stride),) * 2, dimension_numbers=_NHWC)[:, 1:-1, 1:-1])


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--repeats", type=int, default=7)
  p.add_argument("--json", default=None)
  p.add_argument("--small", action="store_true", help="batch 1, 1/32 of the channels (smoke)")
  a = p.parse_args(argv)
  rng = np.random.default_rng(0)
  records = []
  print(f"# {jax.devices()[0].device_kind}, ms per forward (median of {a.repeats})")
  print(f"{'layer':24s} {'shape':28s} {'unpadded':>9s} {'padded':>8s} {'_window':>8s} "
        f"{'speed-up':>8s}")
  for what, b, side, c_in, c_out, k, stride in SHAPES:
    if a.small:
      b, side, c_in, c_out = 1, min(side, 13), -(-c_in // 32), -(-c_out // 32)
    x = jnp.asarray(rng.standard_normal((b, side, side, c_in)), jnp.float32)
    kernel = jnp.asarray(0.05 * rng.standard_normal((k, k, c_in, c_out)), jnp.float32)
    window = jax.jit(lambda x, w, s=stride: cpu_conv._window(x, w, s, 0))
    fns = {"unpadded": _unpadded(stride), "padded": _padded_cropped(stride), "_window": window}
    ref = fns["unpadded"](x, kernel)
    for f in fns.values():
      np.testing.assert_allclose(f(x, kernel), ref, rtol=1e-4, atol=1e-3)
    times = {key: [] for key in fns}
    for _ in range(a.repeats):
      for key, f in fns.items():
        t0 = time.perf_counter()
        f(x, kernel).block_until_ready()
        times[key].append(time.perf_counter() - t0)
    ms = {key: 1e3 * statistics.median(v) for key, v in times.items()}
    shape = f"b{b} {side}x{side}x{c_in}->{c_out} k{k} s{stride}"
    print(f"{what:24s} {shape:28s} {ms['unpadded']:9.2f} {ms['padded']:8.2f} "
          f"{ms['_window']:8.2f} {ms['unpadded'] / ms['_window']:7.2f}x", flush=True)
    records.append(dict(layer=what, batch=b, side=side, c_in=c_in, c_out=c_out, k=k,
                        stride=stride, ms=ms))
  if a.json:
    with open(a.json, "w") as f:
      json.dump(dict(device=jax.devices()[0].device_kind, jax=jax.__version__,
                     records=records), f, indent=1)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
