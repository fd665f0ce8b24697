"""Per-layer cost of a model's convolutions, forward + backward, jaxgan's formulations beside
PyTorch's, in one run: where a whole-step gap comes from.

  python -m benchmarks.conv_ops [--model dcgan|pix2pix|inpaint|srgan|cyclegan] [--image-size 64]
                                [--batch-size 128]
                                [--width 64] [--repeats 5] [--per-direction] [--json OUT]

--model pix2pix: the U-Net's and the 70x70 PatchGAN's convolutions (use --image-size 256
--batch-size 1 --width 64 for the paper's facades setting).

For every convolution of the DCGAN tutorial's G and D it times output, input gradient and
kernel gradient (one jitted function per formulation; PyTorch eager with autograd) on the
same shapes: `lax` (XLA's native transposed / strided convolution), `rearranged` (the
custom VJPs of jaxgan/models/cpu_conv.py), and `torch`. Median of `repeats` calls,
interleaved so that a noisy neighbour slows all alike. Float32 only.

--per-direction times each of the three functions a 4x4 stride-2 layer needs, S (Conv2d),
S^T (ConvTranspose2d, or Conv2d's input gradient) and the kernel gradient, jaxgan's
formulation (cpu_conv.conv_forward / conv_adjoint / conv_kernel_grad) beside PyTorch's
(F.conv2d / F.conv_transpose2d / aten.convolution_backward), on D's shapes (G's are the
same maps read the other way).
"""

import argparse
import functools
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models import layers


def dcgan_convs(image_size: int, width: int, nz: int = 100, channels: int = 3):
  """[(name, kind, h_in, c_in, c_out, kernel, stride, padding)] of DCGAN's G then D."""
  n = image_size.bit_length() - 3
  out, f = [("G.up0", "transpose", 1, nz, width * 2 ** (n - 1), 4, 1, 0)], width * 2 ** (n - 1)
  h = 4
  for i in range(n):
    c_out = channels if i == n - 1 else f // 2
    out.append((f"G.up{i + 1}", "transpose", h, f, c_out, 4, 2, 1))
    f, h = c_out, 2 * h
  f, h = channels, image_size
  for i in range(n):
    c_out = width * 2 ** i
    out.append((f"D.down{i}", "conv", h, f, c_out, 4, 2, 1))
    f, h = c_out, h // 2
  out.append(("D.logit", "conv", h, f, 1, 4, 1, 0))
  return out


def pix2pix_convs(image_size: int, width: int, channels: int = 3):
  """[(name, kind, h_in, c_in, c_out, kernel, stride, padding)] of pix2pix's U-Net G
  (encoder, then decoder whose inputs are the skip-concatenated maps) and PatchGAN D."""
  n = image_size.bit_length() - 1
  widths = [width * min(2 ** i, 8) for i in range(n)]
  out = [(f"G.down{i}", "conv", image_size >> i, channels if i == 0 else widths[i - 1],
          widths[i], 4, 2, 1) for i in range(n)]
  for i in range(n - 1, -1, -1):
    c_in = widths[i] if i == n - 1 else 2 * widths[i]
    out.append((f"G.up{i}", "transpose", image_size >> (i + 1), c_in,
                channels if i == 0 else widths[i - 1], 4, 2, 1))
  c, h = 2 * channels, image_size
  for i in range(3):
    out.append((f"D.conv{i}", "conv", h, c, width * 2 ** i, 4, 2, 1))
    c, h = width * 2 ** i, h // 2
  out.append(("D.conv3", "conv", h, c, width * 8, 4, 1, 1))
  out.append(("D.conv4", "conv", h - 1, width * 8, 1, 4, 1, 1))
  return out


def inpaint_convs(image_size: int, width: int, channels: int = 3):
  """DeepFill v2's coarse net (the refine net repeats its shapes twice over) and SN-PatchGAN,
  (..., dilation) last; width = cnum. Gated convs output 2 * features."""
  s, c = image_size, width
  out = [("G.conv1", "conv", s, channels + 2, c, 5, 1, 2),
         ("G.down1a", "conv", s, c // 2, 2 * c, 3, 2, 1),
         ("G.down1b", "conv", s // 2, c, 2 * c, 3, 1, 1),
         ("G.down2a", "conv", s // 2, c, 4 * c, 3, 2, 1),
         ("G.down2b", "conv", s // 4, 2 * c, 4 * c, 3, 1, 1)]
  out += [(f"G.dil{r}", "conv", s // 4, 2 * c, 4 * c, 3, 1, r, r) for r in (2, 4, 8, 16)]
  out += [("G.up1a", "conv", s // 2, 2 * c, 2 * c, 3, 1, 1),
          ("G.up2a", "conv", s, c, c, 3, 1, 1),
          ("G.up2b", "conv", s, c // 2, c // 2, 3, 1, 1),
          ("G.to_rgb", "conv", s, c // 4, channels, 3, 1, 1)]
  h, f = s, channels + 1
  for i, g in enumerate((64, 128, 256, 256, 256, 256)):
    out.append((f"D.conv{i + 1}", "conv", h, f, g, 5, 2, 2))
    h, f = h // 2, g
  return out


def srgan_convs(image_size: int, width: int, channels: int = 3, scale: int = 4):
  """SRResNet x4 on (image_size / 4)^2 inputs (one residual block: the 16 share its shape)
  and SRGAN's discriminator at image_size."""
  lr = image_size // scale
  out = [("G.conv_in", "conv", lr, channels, width, 9, 1, 4),
         ("G.block", "conv", lr, width, width, 3, 1, 1),
         ("G.up0", "conv", lr, width, 4 * width, 3, 1, 1),
         ("G.up1", "conv", 2 * lr, width, 4 * width, 3, 1, 1),
         ("G.conv_out", "conv", image_size, width, channels, 9, 1, 4),
         ("D.conv0", "conv", image_size, channels, 64, 3, 1, 1)]
  h, f = image_size, 64
  for i, (g, st) in enumerate(((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1),
                               (512, 2)), start=1):
    out.append((f"D.conv{i}", "conv", h, f, g, 3, st, 1))
    h, f = h // st, g
  return out


def cyclegan_convs(image_size: int, width: int, channels: int = 3):
  """CycleGAN's ResNet G (reflection-padded 7x7 and residual 3x3 convs run VALID; one
  residual conv: the 18 share its shape; its two output_padding transposed convs are not
  listed) and its 70x70 PatchGAN (pix2pix's)."""
  s, w = image_size, width
  out = [("G.c7_in", "conv", s + 6, channels, w, 7, 1, 0),
         ("G.down0", "conv", s, w, 2 * w, 3, 2, 1),
         ("G.down1", "conv", s // 2, 2 * w, 4 * w, 3, 2, 1),
         ("G.res", "conv", s // 4 + 2, 4 * w, 4 * w, 3, 1, 0),
         ("G.c7_out", "conv", s + 6, w, channels, 7, 1, 0)]
  return out + [c for c in pix2pix_convs(image_size, width, channels) if c[0].startswith("D.")]


CONV_LISTS = {"dcgan": dcgan_convs, "pix2pix": pix2pix_convs, "inpaint": inpaint_convs,
              "srgan": srgan_convs, "cyclegan": cyclegan_convs}


def _jax_fn(kind, k, s, p, impl, d=1):
  def forward(kernel, x):
    if kind == "conv":
      return layers.torch_conv2d(x, kernel, s, p, impl, d)
    m = layers.ConvTranspose2d(features=kernel.shape[-1], kernel_size=k, stride=s, padding=p,
                               impl=impl)
    return m.apply({"params": {"kernel": kernel}}, x)

  @jax.jit
  def fwd_bwd(kernel, x, dy):
    y, pullback = jax.vjp(forward, kernel, x)
    dk, dx = pullback(dy)
    return y, dk, dx
  return forward, fwd_bwd


def _torch_fn(torch, kind, c_in, c_out, k, s, p, d=1):
  nn = torch.nn
  m = (nn.ConvTranspose2d(c_in, c_out, k, s, p, bias=False) if kind == "transpose"
       else nn.Conv2d(c_in, c_out, k, s, p, dilation=d, bias=False))

  def fwd_bwd(x, dy):
    x.grad = None
    m.weight.grad = None
    y = m(x)
    y.backward(dy)
    return y
  return fwd_bwd


def _median_time(fn, repeats):
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def _interleaved_ms(runs: dict, repeats: int) -> dict:
  """Median ms of each warmed-up callable, calls interleaved so a noisy neighbour slows
  all alike."""
  times = {key: [] for key in runs}
  for _ in range(repeats):
    for key, fn in runs.items():
      times[key].append(_median_time(fn, 1))
  return {key: 1e3 * statistics.median(v) for key, v in times.items()}


def per_direction(torch, image_size: int, width: int, batch: int, repeats: int) -> list[dict]:
  """ms of S, S^T and dK per D layer shape, jaxgan beside PyTorch (interleaved medians)."""
  from jaxgan.models import cpu_conv
  F = torch.nn.functional
  rng = np.random.default_rng(0)
  out = []
  print(f"{'S shape':16s} {'S jax':>7s} {'torch':>7s} {'S^T jax':>8s} {'torch':>7s} "
        f"{'dK jax':>7s} {'torch':>7s}")
  for name, kind, h, c_in, c_out, k, s, pad in dcgan_convs(image_size, width):
    if kind != "conv" or s != 2:
      continue
    x = rng.standard_normal((batch, h, h, c_in)).astype(np.float32)
    kern = (0.02 * rng.standard_normal((k, k, c_in, c_out))).astype(np.float32)
    dy = rng.standard_normal((batch, h // 2, h // 2, c_out)).astype(np.float32)
    jx, jk, jdy = jnp.asarray(x), jnp.asarray(kern), jnp.asarray(dy)
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    tk = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())
    tdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())
    fs = jax.jit(lambda x, k: cpu_conv.conv_forward(x, k, pad))
    fa = jax.jit(lambda y, k: cpu_conv.conv_adjoint(y, k, pad))
    fk = jax.jit(lambda x, y: cpu_conv.conv_kernel_grad(x, y, pad))
    runs = {
        "S jax": lambda: jax.block_until_ready(fs(jx, jk)),
        "S torch": lambda: F.conv2d(tx, tk, stride=2, padding=pad),
        "S^T jax": lambda: jax.block_until_ready(fa(jdy, jk)),
        "S^T torch": lambda: F.conv_transpose2d(tdy, tk, stride=2, padding=pad),
        "dK jax": lambda: jax.block_until_ready(fk(jx, jdy)),
        "dK torch": lambda: torch.ops.aten.convolution_backward(
            tdy, tx, tk, None, [2, 2], [pad, pad], [1, 1], False, [0, 0], 1,
            [False, True, False])[1],
    }
    with torch.no_grad():
      for fn in runs.values():
        fn()
      ms = _interleaved_ms(runs, repeats)
    print(f"{name + f' {h}x{h}x{c_in}->{c_out}':16s} " + " ".join(
        f"{ms[key]:7.1f}" for key in runs), flush=True)
    out.append(dict(layer=name, h_in=h, c_in=c_in, c_out=c_out, batch_size=batch, ms=ms))
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", default="dcgan", choices=sorted(CONV_LISTS))
  p.add_argument("--image-size", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--width", type=int, default=64)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--threads", type=int, default=os.cpu_count())
  p.add_argument("--per-direction", action="store_true",
                 help="time S, S^T and the kernel gradient apart (needs torch)")
  p.add_argument("--json", default=None)
  a = p.parse_args(argv)
  try:
    import torch
    torch.set_num_threads(a.threads)
  except ImportError:
    torch = None
  if a.per_direction:
    if torch is None:
      raise SystemExit("--per-direction compares with PyTorch: pip install -e '.[torch]'")
    print(f"# {jax.devices()[0].device_kind}, batch {a.batch_size}, ms (median of {a.repeats})")
    records = per_direction(torch, a.image_size, a.width, a.batch_size, a.repeats)
    if a.json:
      with open(a.json, "w") as f:
        json.dump(dict(device=jax.devices()[0].device_kind, per_direction=records), f, indent=1)
    return 0
  rng = np.random.default_rng(0)
  records = []
  print(f"# {jax.devices()[0].device_kind}, batch {a.batch_size}, ms per forward+backward "
        f"(median of {a.repeats})")
  print(f"{'layer':9s} {'in':>14s} {'out ch':>6s} {'lax':>8s} {'rearr':>8s} {'torch':>8s} "
        f"{'best/torch':>10s}")
  for name, kind, h, c_in, c_out, k, s, pad, *dil in CONV_LISTS[a.model](a.image_size, a.width):
    d = dil[0] if dil else 1
    x = rng.standard_normal((a.batch_size, h, h, c_in)).astype(np.float32)
    kernel = (0.02 * rng.standard_normal((k, k, c_in, c_out))).astype(np.float32)
    jx, jk = jnp.asarray(x), jnp.asarray(kernel)
    h_out = ((h - 1) * s - 2 * pad + k if kind == "transpose"
             else (h + 2 * pad - d * (k - 1) - 1) // s + 1)
    dy = rng.standard_normal((a.batch_size, h_out, h_out, c_out)).astype(np.float32)
    jdy = jnp.asarray(dy)
    runs = {}
    for impl in ("lax", "rearranged"):
      _, f = _jax_fn(kind, k, s, pad, impl, d)
      jax.block_until_ready(f(jk, jx, jdy))  # compile
      runs[impl] = functools.partial(lambda f: jax.block_until_ready(f(jk, jx, jdy)), f)
    if torch is not None:
      tf = _torch_fn(torch, kind, c_in, c_out, k, s, pad, d)
      tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
      tdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())
      tf(tx, tdy)
      runs["torch"] = lambda: tf(tx, tdy)
    ms = _interleaved_ms(runs, a.repeats)
    best = min(ms["lax"], ms["rearranged"])
    ratio = ms["torch"] / best if "torch" in ms else None
    print(f"{name:9s} {f'{h}x{h}x{c_in}':>14s} {c_out:6d} {ms['lax']:8.1f} {ms['rearranged']:8.1f} "
          f"{ms.get('torch', float('nan')):8.1f} {f'{ratio:.2f}x' if ratio else '-':>10s}",
          flush=True)
    records.append(dict(layer=name, kind=kind, h_in=h, c_in=c_in, c_out=c_out, kernel=k,
                        stride=s, padding=pad, dilation=d, batch_size=a.batch_size, ms=ms))
  total = {key: sum(r["ms"].get(key, 0) for r in records) for key in ("lax", "rearranged", "torch")}
  chosen = sum(min(r["ms"]["lax"], r["ms"]["rearranged"]) for r in records)
  print(f"{'total':9s} {'':>14s} {'':>6s} {total['lax']:8.1f} {total['rearranged']:8.1f} "
        f"{total['torch']:8.1f}   best per layer {chosen:.1f}")
  if a.json:
    with open(a.json, "w") as f:
      json.dump(dict(device=jax.devices()[0].device_kind, records=records), f, indent=1)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
