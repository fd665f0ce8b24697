"""Per-layer cost of StyleGAN2's resampling and 'same' convolutions, forward + both gradients:
XLA's native form (`lax`), jaxgan's CPU form (`rearranged`) and PyTorch's (NVIDIA's
reference ops, benchmarks/torch_stylegan2.py), on the same shapes, in one run.

  python -m benchmarks.stylegan2_convs [--image-size 64] [--width 64] [--batch-size 16]
                                       [--repeats 5] [--no-torch] [--json OUT]

The layers are G's up-convolutions (transposed 3x3 stride 2, then the 4x4 FIR blur) and D's
down-convolutions (blur, then 3x3 stride 2) at every resolution, and one 3x3 'same'
convolution per resolution, with the channel counts of `--width` (= channel_max;
channel_base = 32 * width, as the harness's `--width`). Median of `repeats` interleaved calls;
float32. The modulation (scaling input and output channels) is left out: it is the same
elementwise work in every form.
"""

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.conv_ops import _interleaved_ms
from jaxgan.models import layers, stylegan2


def stylegan2_convs(image_size: int, width: int) -> list[tuple]:
  """[(name, kind, h_in, c_in, c_out)]; kind "up" (h_in -> 2 h_in), "down", "same"."""
  ch = lambda r: stylegan2.channels_at(r, 32 * width, width)
  top = stylegan2.log2_resolution(image_size)
  out = []
  for r in range(3, top + 1):
    res = 2 ** r
    out.append((f"G.b{res}.conv0", "up", res // 2, ch(res // 2), ch(res)))
    out.append((f"G.b{res}.conv1", "same", res, ch(res), ch(res)))
  for r in range(top, 2, -1):
    res = 2 ** r
    out.append((f"D.b{res}.conv1", "down", res, ch(res), ch(res // 2)))
  return out


_JAX_FORMS = {"up": layers.conv_up_2d, "down": layers.conv_down_2d, "same": layers.same_conv}


def _jax_fwd_bwd(kind: str, impl: str):
  f = lambda x, k: _JAX_FORMS[kind](x, k, impl)
  return jax.jit(lambda x, k, dy: jax.vjp(f, x, k)[1](dy))


def _torch_fwd_bwd(torch, kind: str):
  from benchmarks import torch_stylegan2 as ts
  fir = ts.fir_filter()
  conv = {"up": lambda x, w: ts.conv_up(x, w, fir), "down": lambda x, w: ts.conv_down(x, w, fir),
          "same": lambda x, w: torch.nn.functional.conv2d(x, w, padding=1)}[kind]

  def fwd_bwd(x, w, dy):
    x.grad = w.grad = None
    conv(x, w).backward(dy)
  return fwd_bwd


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--image-size", type=int, default=64)
  p.add_argument("--width", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=16)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--no-torch", action="store_true", help="time jaxgan's forms only")
  p.add_argument("--json", default=None)
  args = p.parse_args(argv)
  torch = None
  if not args.no_torch:
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
  rng = np.random.default_rng(0)
  b, records = args.batch_size, []
  print(f"# {jax.default_backend()}, batch {b}, ms per forward + both gradients "
        f"(median of {args.repeats})")
  print(f"{'layer':16s} {'in':>12s} {'out':>5s} {'lax':>8s} {'rearr':>8s} {'torch':>8s}")
  for name, kind, h, c_in, c_out in stylegan2_convs(args.image_size, args.width):
    h_out = {"up": 2 * h, "down": h // 2, "same": h}[kind]
    x = rng.standard_normal((b, h, h, c_in)).astype(np.float32)
    kern = (0.1 * rng.standard_normal((3, 3, c_in, c_out))).astype(np.float32)
    dy = rng.standard_normal((b, h_out, h_out, c_out)).astype(np.float32)
    jx, jk, jdy = jnp.asarray(x), jnp.asarray(kern), jnp.asarray(dy)
    runs = {}
    for impl in ("lax", "rearranged"):
      fn = _jax_fwd_bwd(kind, impl)
      runs[impl] = lambda fn=fn: jax.block_until_ready(fn(jx, jk, jdy))
    if torch is not None:
      tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_()
      tk = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy()).requires_grad_()
      tdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())
      tfn = _torch_fwd_bwd(torch, kind)
      runs["torch"] = lambda: tfn(tx, tk, tdy)
    for fn in runs.values():
      fn()  # compile / warm up
    ms = _interleaved_ms(runs, args.repeats)
    print(f"{name:16s} {f'{h}x{h}x{c_in}':>12s} {c_out:5d} " + " ".join(
        f"{ms.get(key, float('nan')):8.1f}" for key in ("lax", "rearranged", "torch")),
          flush=True)
    records.append(dict(layer=name, kind=kind, h_in=h, c_in=c_in, c_out=c_out,
                        batch_size=b, ms=ms))
  totals = {key: sum(r["ms"][key] for r in records) for key in records[0]["ms"]}
  print(f"{'total':35s} " + " ".join(f"{totals.get(key, float('nan')):8.1f}"
                                      for key in ("lax", "rearranged", "torch")))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(dict(device=jax.default_backend(), jax=jax.__version__, records=records,
                     totals_ms=totals), f, indent=1)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
