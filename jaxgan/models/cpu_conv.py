"""DCGAN's 4x4 stride-2 convolutions with a hand-picked formulation per direction, for XLA:CPU.

S(x, K) = Conv2d(k=4, s=2, p) maps a large map x (B, H, W, Cb) to a small one (B, h, w, Cs);
ConvTranspose2d(k=4, s=2, p) is its adjoint S^T. Training needs, for either layer, three
functions of the same two maps: S itself, S^T, and the kernel gradient (the correlation of
the large map with the small one). Autodiff derives the last two from whatever formulation
the forward pass used, and on XLA:CPU no single formulation is fast in all three
directions. The fastest measured per direction (benchmarks/conv_ops.py --per-direction,
2-core EPYC, batch 128; figures and rejected alternatives in benchmarks/RESULTS.md):
  - S:   XLA's own strided convolution (it is the kernel gradient of the strided and
         transposed convolutions, and the transposed convolution, that XLA:CPU runs
         slowly), except with few input channels, where space-to-depth + one im2col
         matmul wins;
  - S^T: one stride-1 convolution of the small map (padded by 1) with the 2x2 space-to-depth
         kernel gives every output phase at once, then depth-to-space (at 4x4 and below,
         one exact convolution per phase);
  - dK:  four matmuls, one per 2x2 space-to-depth tap, each contracting batch and space.
`strided_conv` and `strided_conv_transpose` are S and S^T as custom VJPs built from these
three, so Conv2d and ConvTranspose2d each run the fast formulation in all three directions.
Layers whose kernels outweigh their maps (pix2pix's U-Net at batch 1) instead run every
direction as matmuls over the kernel in its stored layout ("Kernel-bound layers").
Every backward rule is itself made of differentiable JAX ops, so gradient penalties
(reverse over reverse) work; forward-mode (jvp) is not defined for custom VJPs.

The rest of the file gives every other PyTorch-style convolution the same treatment where
it pays (`conv`, used by layers.torch_conv2d on CPU): stride-1 ones of any kernel size and
dilation (`conv_s1`) and strided ones (`conv_strided`) keep XLA's forward and take the
kernel gradient as one matmul per tap; stride-1 layers with at most MAX_NARROW_CHANNELS on a
side (to and from RGB) run every direction as matmuls over row slices of the flattened map
(`conv_flat`); StyleGAN2's up-convolution runs its transposed
convolution by output phase (`conv_transpose_3x3_s2`) and its down-convolution as
`conv_strided`.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
# Below this many input channels S runs as space-to-depth + one im2col matmul (the
# 3-channel image layer: 1.6x faster than XLA's strided convolution); above, XLA's.
MIN_NATIVE_CHANNELS = 16
# S^T of small maps (up to this size) runs one exact convolution per output phase:
# 15-19% faster at 4x4 than the shared window, slower from 8x8.
MAX_EXACT_PHASE_SIZE = 4


def _pad(x: jax.Array, p: int) -> jax.Array:
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def space_to_depth(x: jax.Array) -> jax.Array:
  """(B, 2h, 2w, C) -> (B, h, w, 4C), channel index (row phase, column phase, c)."""
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(
      b, h // 2, w // 2, 4 * c)


def depth_to_space(x: jax.Array) -> jax.Array:
  """The inverse of space_to_depth."""
  b, h, w, c4 = x.shape
  return x.reshape(b, h, w, 2, 2, c4 // 4).transpose(0, 1, 3, 2, 4, 5).reshape(
      b, 2 * h, 2 * w, c4 // 4)


def _tap_kernel(kernel: jax.Array) -> jax.Array:
  """(k, k, Cb, Cs) -> the kernel over space_to_depth's channels, (e/2, e/2, 4Cb, Cs), e = k
  rounded up to even (an odd kernel is zero-padded at the far side): 4x4 -> 2x2.

  Kernel row 2t + a reads phase a of block row t (likewise columns). The map swaps two
  axes, so it is its own inverse on the 6-D view."""
  k, (cb, cs) = kernel.shape[0], kernel.shape[2:]
  e = k + k % 2
  kernel = jnp.pad(kernel, ((0, e - k), (0, e - k), (0, 0), (0, 0)))
  return kernel.reshape(e // 2, 2, e // 2, 2, cb, cs).transpose(0, 2, 1, 3, 4, 5).reshape(
      e // 2, e // 2, 4 * cb, cs)


def _from_tap_kernel(k2: jax.Array) -> jax.Array:
  """The inverse of _tap_kernel: (2, 2, 4Cb, Cs) -> (4, 4, Cb, Cs)."""
  cs = k2.shape[-1]
  cb = k2.shape[2] // 4
  return k2.reshape(2, 2, 2, 2, cb, cs).transpose(0, 2, 1, 3, 4, 5).reshape(4, 4, cb, cs)


def _adjoint_tap_kernel(kernel: jax.Array) -> jax.Array:
  """The 2x2 kernel of S^T in the space-to-depth view: flipped, in/out swapped,
  (2, 2, Cs, 4Cb)."""
  return _tap_kernel(kernel)[::-1, ::-1].swapaxes(2, 3)


def supported(height: int, width: int, padding: int) -> bool:
  """Whether S of an (height, width) map with this padding fits the space-to-depth view."""
  return (height + 2 * padding) % 2 == 0 and (width + 2 * padding) % 2 == 0 and padding >= 0


def _im2col_2x2(x: jax.Array) -> jax.Array:
  """(B, h + 1, w + 1, C) -> (B, h, w, 4C): the four taps of each 2x2 window side by side."""
  h, w = x.shape[1] - 1, x.shape[2] - 1
  return jnp.concatenate([x[:, i:i + h, j:j + w] for i in range(2) for j in range(2)], axis=-1)


def conv_forward(x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """S(x): (B, H, W, Cb) -> (B, (H + 2p) / 2 - 1, (W + 2p) / 2 - 1, Cs)."""
  if x.shape[-1] >= MIN_NATIVE_CHANNELS:
    return lax.conv_general_dilated(x, kernel, (2, 2), ((padding, padding),) * 2,
                                    dimension_numbers=_NHWC)
  cols = _im2col_2x2(space_to_depth(_pad(x, padding)))                  # (B, h, w, 16Cb)
  return jnp.einsum("bhwc,cd->bhwd", cols, _tap_kernel(kernel).reshape(-1, kernel.shape[-1]))


def conv_adjoint(y: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """S^T(y): (B, h, w, Cs) -> (B, 2h + 2 - 2p, 2w + 2 - 2p, Cb).

  S in the space-to-depth view is a 2x2 VALID convolution, so S^T is the full
  convolution: correlate y, padded by 1, with the flipped, in/out-swapped 2x2 kernel;
  its (h + 1) x (w + 1) output holds every phase. Small maps with padding 1 instead
  run one exact convolution per output phase (the shared window does 56% extra work
  at 4x4)."""
  if padding == 1 and max(y.shape[1:3]) <= MAX_EXACT_PHASE_SIZE:
    return _conv_adjoint_by_phase(y, kernel)
  k = _adjoint_tap_kernel(kernel)                                      # (2, 2, Cs, 4Cb)
  z = lax.conv_general_dilated(y, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC)
  x = depth_to_space(z)                                                # (B, 2h + 2, 2w + 2, Cb)
  return x[:, padding:x.shape[1] - padding, padding:x.shape[2] - padding]


def _conv_adjoint_by_phase(y: jax.Array, kernel: jax.Array) -> jax.Array:
  """conv_adjoint with padding 1, one exact 2x2 convolution per output phase: output
  row 2m + a is the shared window's row m + a, phase 1 - a (columns alike), so phase
  (a, b) pads y by (1 - a, a) rows and (1 - b, b) columns."""
  b, h, w, cs = y.shape
  cb = kernel.shape[2]
  k = _adjoint_tap_kernel(kernel).reshape(2, 2, cs, 2, 2, cb)
  rows = []
  for a in range(2):
    phases = [lax.conv_general_dilated(y, k[:, :, :, 1 - a, 1 - c], (1, 1),
                                       ((1 - a, a), (1 - c, c)), dimension_numbers=_NHWC)
              for c in range(2)]
    rows.append(jnp.stack(phases, axis=3))                             # (B, h, w, 2, Cb)
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, cb)          # (B, h, a, w, b, Cb)


def conv_kernel_grad(x: jax.Array, dy: jax.Array, padding: int) -> jax.Array:
  """dK of <S(x, K), dy>: (4, 4, Cb, Cs), one matmul per 2x2 space-to-depth tap."""
  xs = space_to_depth(_pad(x, padding))                                # (B, h + 1, w + 1, 4Cb)
  h, w = dy.shape[1:3]
  d = dy.reshape(-1, dy.shape[-1])
  taps = [jnp.einsum("kd,kc->cd", d, xs[:, i:i + h, j:j + w].reshape(-1, xs.shape[-1]))
          for i in range(2) for j in range(2)]                         # each (4Cb, Cs)
  return _from_tap_kernel(jnp.stack(taps).reshape(2, 2, *taps[0].shape))


# --- Kernel-bound layers: small maps under large kernels ------------------------------------
# pix2pix's U-Net at batch 1 runs 4x4 stride-2 layers of 512-1024 channels over maps of
# 1x1 to 8x8: the kernels (up to 32 MB) outweigh the activations, and the step's time went
# to rearranging kernels, not to arithmetic. Every formulation above flips a kernel, swaps
# its in/out axes or regroups its taps on the way in, and autodiff undoes that on the
# gradient; XLA:CPU runs each as a single-threaded copy (measured: 30 ms to swap the in/out
# axes of a 4x4x1024x512 kernel, 15 ms for any copy of it), and such copies made 0.8 of
# pix2pix's 1.4 s step. Here every direction is one matmul that reads the kernel in its
# stored layout, as a (16 C_in, C_out) matrix or as 16 (C_in, C_out) taps, and writes the
# kernel gradient in that layout, with the rearranging done on the small activations:
# im2col of the large map (`_cols`) and its adjoint, the overlap-add (`_col2im`).


def _cols(x: jax.Array, padding: int) -> jax.Array:
  """im2col of S: (B, H, W, C) -> (B h w, 16, C), the 4x4 window of each output, taps in
  kernel order (row, column). Built on space-to-depth: kernel row 2q + a is phase a of
  block row m + q."""
  xs = space_to_depth(_pad(x, padding))                       # (B, h + 1, w + 1, (a, b, c))
  b, h, w, c = xs.shape[0], xs.shape[1] - 1, xs.shape[2] - 1, x.shape[-1]
  taps = jnp.stack([xs[:, q:q + h, r:r + w] for q in range(2) for r in range(2)], axis=3)
  taps = taps.reshape(b * h * w, 2, 2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)  # (q, a, r, b)
  return taps.reshape(b * h * w, 16, c)


def _col2im(taps: jax.Array, shape: tuple, padding: int) -> jax.Array:
  """The adjoint of _cols (overlap-add of every window's taps) onto a map of `shape`."""
  return jax.linear_transpose(functools.partial(_cols, padding=padding),
                              jax.ShapeDtypeStruct(shape, taps.dtype))(taps)[0]


# Where the matmul forms win, per layer, forward + both gradients + a kernel update, at
# pix2pix's sizes and DCGAN's (2-core Xeon; benchmarks/RESULTS.md): Conv2d's (two plain
# matmuls) while the im2col matrix (N positions x 16 Cb) is at most 4x the kernel's size
# (16 Cb x Cs), i.e. N <= 4 Cs; ConvTranspose2d's (16 batched tap matmuls, which scale worse
# in N) up to 64 positions.
MAX_PATCHES_PER_KERNEL = 4
MAX_TRANSPOSE_POSITIONS = 64


def _positions(y_shape) -> int:
  return y_shape[0] * y_shape[1] * y_shape[2]


def conv_kernel_bound(y_shape) -> bool:
  """Whether a Conv2d(4, 2) whose output (small map) has this shape takes the matmul forms."""
  return _positions(y_shape) <= MAX_PATCHES_PER_KERNEL * y_shape[-1]


def conv_transpose_kernel_bound(y_shape) -> bool:
  """Whether a ConvTranspose2d(4, 2) whose input (small map) has this shape takes them."""
  return _positions(y_shape) <= MAX_TRANSPOSE_POSITIONS


def _conv_adjoint_matmul(dy: jax.Array, kernel: jax.Array, x_shape: tuple,
                         padding: int) -> jax.Array:
  """S^T(dy) with the kernel (4, 4, Cb, Cs) read as one (16 Cb, Cs) matrix."""
  cs = kernel.shape[-1]
  taps = jnp.einsum("nc,kc->nk", dy.reshape(-1, cs), kernel.reshape(-1, cs))
  return _col2im(taps.reshape(-1, 16, kernel.shape[2]), x_shape, padding)


def _conv_kernel_grad_matmul(x: jax.Array, dy: jax.Array, padding: int) -> jax.Array:
  """conv_kernel_grad as one matmul of the im2col of x with dy: (4, 4, Cb, Cs) directly."""
  cols = _cols(x, padding)
  cs = dy.shape[-1]
  dk = jnp.einsum("nk,nc->kc", cols.reshape(cols.shape[0], -1), dy.reshape(-1, cs))
  return dk.reshape(4, 4, x.shape[-1], cs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_conv(x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """Conv2d(k=4, s=2, padding), NHWC / HWIO, with the fast formulation in each direction."""
  return conv_forward(x, kernel, padding)


def _strided_conv_fwd(x, kernel, padding):
  return conv_forward(x, kernel, padding), (x, kernel)


def _strided_conv_bwd(padding, residuals, dy):
  x, kernel = residuals
  if conv_kernel_bound(dy.shape):
    return (_conv_adjoint_matmul(dy, kernel, x.shape, padding),
            _conv_kernel_grad_matmul(x, dy, padding))
  return conv_adjoint(dy, kernel, padding), conv_kernel_grad(x, dy, padding)


strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_conv_transpose(y: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """S^T(y) for S = Conv2d(k=4, s=2, padding) with this (4, 4, Cb, Cs) kernel."""
  return conv_adjoint(y, kernel, padding)


def _strided_conv_transpose_fwd(y, kernel, padding):
  return conv_adjoint(y, kernel, padding), (y, kernel)


def _strided_conv_transpose_bwd(padding, residuals, dx):
  # <S^T(y, K), dx> = <y, S(dx, K)>: S gives the input gradient, and the kernel
  # gradient is S's with the large map dx and the small map y.
  y, kernel = residuals
  return conv_forward(dx, kernel, padding), conv_kernel_grad(dx, y, padding)


strided_conv_transpose.defvjp(_strided_conv_transpose_fwd, _strided_conv_transpose_bwd)


def _taps_of_stored(kernel: jax.Array) -> jax.Array:
  """A stored ConvTranspose2d kernel (4, 4, Cs, Cb) as its 16 (Cs, Cb) taps, in the order of
  S's kernel taps: the stored kernel is S's flipped, so tap t is stored tap 15 - t."""
  return kernel.reshape(16, *kernel.shape[2:])


def _per_tap(y: jax.Array) -> jax.Array:
  """The small map as (16, N, Cs), one copy per tap. Repeated, the contractions with the
  kernel are batched matmuls over it as stored; 'nc,tcd->ntd' instead makes XLA transpose
  the kernel first (measured: 1.7 against 20 ms at 1024 x 512, N = 4)."""
  flat = y.reshape(1, _positions(y.shape), y.shape[-1])
  return jnp.broadcast_to(flat, (16, *flat.shape[1:]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose_matmul(y: jax.Array, kernel: jax.Array, padding: int,
                          x_shape: tuple) -> jax.Array:
  """S^T(y) of a kernel-bound layer, kernel in layers.ConvTranspose2d's stored layout
  (4, 4, Cs, Cb), onto a map of x_shape: 16 batched (N, Cs) x (Cs, Cb) matmuls, one per
  stored tap, then the overlap-add. Equal to
  strided_conv_transpose(y, transpose_kernel(kernel), padding)."""
  taps = jnp.einsum("tnc,tcd->tnd", _per_tap(y), _taps_of_stored(kernel))[::-1]  # S's order
  return _col2im(taps.transpose(1, 0, 2), x_shape, padding)


def _conv_transpose_matmul_fwd(y, kernel, padding, x_shape):
  return conv_transpose_matmul(y, kernel, padding, x_shape), (y, kernel)


def _conv_transpose_matmul_bwd(padding, x_shape, residuals, dx):
  y, kernel = residuals
  cols = _cols(dx, padding).transpose(1, 0, 2)[::-1]              # (16, N, Cb), stored order
  dy = jnp.einsum("tnd,tcd->tnc", cols, _taps_of_stored(kernel)).sum(0).reshape(y.shape)
  dk = jnp.einsum("tnc,tnd->tcd", _per_tap(y), cols).reshape(kernel.shape)
  return dy, dk


conv_transpose_matmul.defvjp(_conv_transpose_matmul_fwd, _conv_transpose_matmul_bwd)


def conv_transpose_stored(y: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """torch's ConvTranspose2d(k=4, s=2, padding) of y with layers.ConvTranspose2d's stored
  kernel (4, 4, Cs, Cb): the matmul form on kernel-bound layers, else S^T."""
  if conv_transpose_kernel_bound(y.shape):
    b, h, w = y.shape[:3]
    x_shape = (b, 2 * h + 2 - 2 * padding, 2 * w + 2 - 2 * padding, kernel.shape[-1])
    return conv_transpose_matmul(y, kernel, padding, x_shape)
  return strided_conv_transpose(y, transpose_kernel(kernel), padding)


def transpose_kernel(kernel: jax.Array) -> jax.Array:
  """A ConvTranspose2d kernel (4, 4, in, out), applied as a correlation over the dilated
  input, <-> the kernel of the Conv2d it is the adjoint of (flipped, in/out swapped)."""
  return kernel[::-1, ::-1].swapaxes(2, 3)


# --- CycleGAN's 3x3 stride-2 transposed convolution (padding 1, output_padding 1) -----------
# XLA:CPU runs it as a stride-dilated convolution, three quarters of whose input is zeros,
# and its kernel gradient slower still (measured: 1-2 s a layer at CycleGAN-256's sizes).
# The same map by output phase: output (2m + a, 2n + b) reads input rows m (and m + 1 when
# a = 1) and columns likewise, through taps of the correlation kernel W (the stored layout of
# layers.ConvTranspose2d): row phase 0 uses W row 1 at offset 0; phase 1 uses W row 0 at
# offset 0 and W row 2 at offset 1. So all four phases are ONE stride-1 2x2 convolution of
# the input padded by one row and column at the far side, into 4 * C_out channels (zeros for
# the taps a phase lacks), then depth-to-space. Plain autodiff differentiates it: stride-1
# convolutions are what XLA:CPU does well.

_PHASE_TAPS = {0: {0: 1}, 1: {0: 0, 1: 2}}  # phase -> {input offset: kernel tap}


def _subpixel_kernel_3x3(kernel: jax.Array) -> jax.Array:
  """(3, 3, C_in, C_out) correlation kernel -> (2, 2, C_in, 4 C_out), phases (a, b) major."""
  zeros = jnp.zeros(kernel.shape[2:], kernel.dtype)
  rows = []
  for dr in range(2):
    cols = []
    for dc in range(2):
      phases = [kernel[_PHASE_TAPS[a][dr], _PHASE_TAPS[b][dc]]
                if dr in _PHASE_TAPS[a] and dc in _PHASE_TAPS[b] else zeros
                for a in range(2) for b in range(2)]
      cols.append(jnp.concatenate(phases, axis=-1))
    rows.append(jnp.stack(cols))
  return jnp.stack(rows)


def conv_transpose_3x3_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """lax.conv_transpose(x, kernel, (2, 2), ((1, 2), (1, 2))): torch's ConvTranspose2d(3,
  stride 2, padding 1, output_padding 1) with our kernel layout; (B, 2H, 2W, C_out)."""
  xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
  # conv_s1 (below): its kernel gradient as matmuls made forward + both gradients 2.7-4.4x
  # faster than XLA's at CycleGAN's two layers (64x64x256 -> 128 and 128x128x128 -> 64).
  return depth_to_space(conv_s1(xp, _subpixel_kernel_3x3(kernel), 0))


# --- XLA's own window -------------------------------------------------------------------------
# XLA:CPU hands its convolutions to YNNPACK (a `__ynn_fusion` in the optimised HLO), which
# ran an unpadded window 1.1-2.9x slower than the same window padded by one row and
# column (by the stride, when strided) and cropped, at every shape measured: CycleGAN's
# residual 3x3 at 66x66x256 66 -> 27 ms, a 3x3 at 34x34x128, batch 64, 255 -> 131,
# StyleGAN2's 3x3 stride-2 at 65x65x256, batch 16, 264 -> 195 (2-core Xeon, forward,
# `python -m benchmarks.xla_windows`). A 1x1 window is a matmul, faster again (StyleGAN2's
# to-RGB at 64x64, batch 16: 45 ms unpadded, 9.3 padded, 3.2 as a matmul).


def _window(x: jax.Array, kernel: jax.Array, stride: int, padding: int,
            dilation: int = 1) -> jax.Array:
  """lax.conv_general_dilated(x, kernel, stride, symmetric zero padding, rhs dilation) in
  the form XLA:CPU runs fastest."""
  if kernel.shape[0] == 1 and padding == 0 and stride == 1:
    return (x.reshape(-1, x.shape[-1]) @ kernel[0, 0]).reshape(*x.shape[:3], -1)
  if padding == 0:  # padded by the stride, output j + 1 is the unpadded output j
    return lax.conv_general_dilated(x, kernel, (stride, stride), ((stride, stride),) * 2,
                                    rhs_dilation=(dilation, dilation),
                                    dimension_numbers=_NHWC)[:, 1:-1, 1:-1]
  return lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                  rhs_dilation=(dilation, dilation), dimension_numbers=_NHWC)


# --- Stride-1 convolutions with a matmul kernel gradient ------------------------------------
# XLA:CPU's kernel gradient of a stride-1 3x3 convolution runs several times slower than the
# convolution itself (measured: 80 ms against 29 for StyleGAN2's 32x32x64 -> 128 up-conv in
# its sub-pixel form, batch 16), and some 50x slower again inside a lax.cond branch, where
# StyleGAN2's lazy regularisers run (measured at 32x32x64, batch 16: 57 ms -> 2.99 s). As
# one matmul per kernel tap, contracting batch and space, it costs about what the forward
# does, in a branch or not. The input gradient is the same convolution with the flipped
# kernel, so every direction, at any order, is this function again or matmuls.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_s1(x: jax.Array, kernel: jax.Array, padding: int, dilation: int = 1) -> jax.Array:
  """Stride-1 convolution of x (B, H, W, C_in) with a square (k, k, C_in, C_out) kernel
  dilated by `dilation`, zero padding `padding` on every side:
  (B, H + 2p - d(k - 1), W + 2p - d(k - 1), C_out)."""
  return _window(x, kernel, 1, padding, dilation)


def conv_same(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """conv_s1 with 'same' padding (odd k)."""
  return conv_s1(x, kernel, kernel.shape[0] // 2)


def _conv_s1_fwd(x, kernel, padding, dilation):
  # conv_s1 itself, not its lax body: differentiating this rule again (reverse over
  # reverse: R1, the path length) then meets the custom VJP, not lax's kernel gradient.
  return conv_s1(x, kernel, padding, dilation), (x, kernel)


def tap_kernel_grad(x: jax.Array, dy: jax.Array, k: int, padding: int, stride: int = 1,
                    dilation: int = 1) -> jax.Array:
  """dK of <conv(x, K), dy> for a k x k convolution with this padding, stride and dilation:
  (k, k, C_in, C_out), one matmul per tap over the input rows and columns it reads."""
  xp = _pad(x, padding)
  h, w = dy.shape[1:3]
  d = dy.reshape(-1, dy.shape[-1])
  span_h, span_w = stride * (h - 1) + 1, stride * (w - 1) + 1
  r = dilation
  taps = [jnp.einsum("nc,nd->cd", xp[:, i * r:i * r + span_h:stride,
                                     j * r:j * r + span_w:stride].reshape(-1, x.shape[-1]), d)
          for i in range(k) for j in range(k)]
  return jnp.stack(taps).reshape(k, k, x.shape[-1], dy.shape[-1])


def _conv_s1_bwd(padding, dilation, residuals, dy):
  x, kernel = residuals
  k = kernel.shape[0]
  dx = _full_correlation(conv_s1, dy, kernel, padding, dilation)
  return dx, tap_kernel_grad(x, dy, k, padding, 1, dilation).astype(kernel.dtype)


def _full_correlation(conv_fn, dy: jax.Array, kernel: jax.Array, padding: int,
                      dilation: int) -> jax.Array:
  """The input gradient of a stride-1 convolution: the flipped, transposed kernel over dy
  padded to the full correlation, by conv_fn (conv_s1 or conv_flat)."""
  full = dilation * (kernel.shape[0] - 1) - padding
  flipped = kernel[::-1, ::-1].swapaxes(2, 3)
  if full >= 0:
    return conv_fn(dy, flipped, full, dilation)
  # padded beyond the kernel's reach: crop the correlation (those rows get no gradient)
  return lax.pad(conv_fn(dy, flipped, 0, dilation), jnp.zeros((), dy.dtype),
                 ((0, 0, 0), (full, full, 0), (full, full, 0), (0, 0, 0)))


conv_s1.defvjp(_conv_s1_fwd, _conv_s1_bwd)


# --- Stride-1 convolutions over the flattened map ----------------------------------------------
# Flattened row-major to (B Hp Wp, C), a stride-1 map's tap (i, j) of output row q reads
# input row q + d (i Wp + j): every tap is one contiguous row range, so a convolution is
# matmuls over row slices, with no 2-D window and no strided gather. Outputs are computed
# on the whole padded grid (the rows and columns past Ho, Wo are wasted work, 5% at
# CycleGAN's 262x262) and cropped. Of the three ways to sum the taps, one fits each shape:
#   - "im2col": few input channels (the RGB-in layers): one matmul of the k^2 row slices
#     side by side, (N, k^2 C_in) @ (k^2 C_in, C_out);
#   - "overlap": few output channels (the to-RGB layers): one matmul to every tap's output,
#     (N, C_in) @ (C_in, k^2 C_out), then the sum of k^2 row-shifted column blocks;
#   - "taps": one matmul per tap, summed. `conv` routes only narrow layers here; "taps"
#     keeps conv_flat total for wide ones, which measured slower than conv_s1 at most
#     shapes (RESULTS.md).
# Measured forward + both gradients against the layers' previous forms (XLA's forward,
# per-tap kernel gradient; 2-core Xeon, batch 1, benchmarks/RESULTS.md): CycleGAN's 7x7
# 3 -> 64 at 262x262 151 -> 81 ms (PyTorch 56), its 7x7 64 -> 3 361 -> 74 (PyTorch 117).
# Each gradient is again one of these forms, so a custom VJP keeps every direction here
# (and written in gather form: autodiff of the overlap's shifted sum instead scatters k^2
# full-size padded copies, which made whole steps slower and larger, RESULTS.md).
MAX_NARROW_CHANNELS = 4


def _flat_form(c_in: int, c_out: int) -> str:
  if c_in <= MAX_NARROW_CHANNELS and c_in <= c_out:
    return "im2col"
  return "overlap" if c_out <= MAX_NARROW_CHANNELS else "taps"


def _flat_grid(xp_shape, k: int, dilation: int):
  """(tap row offsets in tap order (i, j), rows of output computed, Ho, Wo) of the VALID
  stride-1 convolution of a padded map: output row q of the flat grid is (b, h, w) with
  q = (b Hp + h) Wp + w; only up to the last valid output is computed."""
  b, hp, wp, _ = xp_shape
  span = dilation * (k - 1)
  ho, wo = hp - span, wp - span
  offsets = [dilation * (i * wp + j) for i in range(k) for j in range(k)]
  return offsets, (b - 1) * hp * wp + (ho - 1) * wp + wo, ho, wo


def _to_flat_grid(dy: jax.Array, hp: int, wp: int, rows: int) -> jax.Array:
  """(B, Ho, Wo, C) -> its first `rows` rows on the flat (B Hp Wp, C) grid, zeros between."""
  b, ho, wo, c = dy.shape
  return jnp.pad(dy, ((0, 0), (0, hp - ho), (0, wp - wo), (0, 0))).reshape(-1, c)[:rows]


def _from_flat_grid(y: jax.Array, xp_shape, ho: int, wo: int) -> jax.Array:
  b, hp, wp, _ = xp_shape
  y = jnp.pad(y, ((0, b * hp * wp - y.shape[0]), (0, 0)))
  return y.reshape(b, hp, wp, -1)[:, :ho, :wo]


def _flat_cols(xf: jax.Array, offsets: list[int], rows: int) -> jax.Array:
  """im2col on the flat grid: each tap's row range side by side, (rows, k^2 C)."""
  return jnp.concatenate([xf[s:s + rows] for s in offsets], axis=1)


def flat_conv(xp: jax.Array, kernel: jax.Array, dilation: int = 1) -> jax.Array:
  """VALID stride-1 convolution of an already padded map (B, Hp, Wp, C_in) with a square
  (k, k, C_in, C_out) kernel dilated by `dilation`, by row slices of the flattened map."""
  k, c_in, c_out = kernel.shape[0], kernel.shape[2], kernel.shape[3]
  offsets, n, ho, wo = _flat_grid(xp.shape, k, dilation)
  xf = xp.reshape(-1, c_in)
  form = _flat_form(c_in, c_out)
  if form == "im2col":
    y = _flat_cols(xf, offsets, n) @ kernel.reshape(-1, c_out)
  elif form == "overlap":
    z = xf @ kernel.transpose(2, 0, 1, 3).reshape(c_in, -1)  # (rows, tap, C_out)
    y = sum(z[s:s + n, t * c_out:(t + 1) * c_out] for t, s in enumerate(offsets))
  else:
    y = sum(xf[s:s + n] @ kernel[t // k, t % k] for t, s in enumerate(offsets))
  return _from_flat_grid(y, xp.shape, ho, wo)


def flat_kernel_grad(xp: jax.Array, dy: jax.Array, k: int, dilation: int = 1) -> jax.Array:
  """dK of <flat_conv(xp, K), dy>: (k, k, C_in, C_out), summed over batch and space."""
  c_in, c_out = xp.shape[-1], dy.shape[-1]
  offsets, n, _, _ = _flat_grid(xp.shape, k, dilation)
  xf = xp.reshape(-1, c_in)
  dyf = _to_flat_grid(dy, xp.shape[1], xp.shape[2], n)
  form = _flat_form(c_in, c_out)
  if form == "im2col":
    return (_flat_cols(xf, offsets, n).T @ dyf).reshape(k, k, c_in, c_out)
  if form == "overlap":  # dy placed at each tap's rows, side by side: one matmul
    shifted = jnp.concatenate([jnp.pad(dyf, ((s, xf.shape[0] - n - s), (0, 0)))
                               for s in offsets], axis=1)
    return (xf.T @ shifted).reshape(c_in, k, k, c_out).transpose(1, 2, 0, 3)
  return jnp.stack([xf[s:s + n].T @ dyf for s in offsets]).reshape(k, k, c_in, c_out)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_flat(x: jax.Array, kernel: jax.Array, padding: int, dilation: int = 1) -> jax.Array:
  """conv_s1's function (stride 1, square kernel, zero padding, dilation), every direction
  by flat_conv / flat_kernel_grad."""
  return flat_conv(_pad(x, padding), kernel, dilation)


def _conv_flat_fwd(x, kernel, padding, dilation):
  return conv_flat(x, kernel, padding, dilation), (x, kernel)


def _conv_flat_bwd(padding, dilation, residuals, dy):
  x, kernel = residuals
  k = kernel.shape[0]
  dx = _full_correlation(conv_flat, dy, kernel, padding, dilation)
  dk = flat_kernel_grad(_pad(x, padding), dy, k, dilation)
  return dx, dk.astype(kernel.dtype)


conv_flat.defvjp(_conv_flat_fwd, _conv_flat_bwd)


# --- Stride-2 convolutions through space-to-depth ----------------------------------------------
# A stride-2 k x k convolution reads input row 2m + i through tap i. With the kernel
# zero-padded to even size e and the input seen through space_to_depth, tap 2t + a reads
# phase a of block row m + t: a stride-1 (e/2) x (e/2) VALID convolution over 4 * C_in
# channels (DCGAN's S view, any k): conv_s1's fast directions, for (e/k)^2 of the
# multiplications (16/9 at k = 3, 36/25 at k = 5, none at k = 4).


def conv_s2(x: jax.Array, kernel: jax.Array, padding: int) -> jax.Array:
  """lax's stride-2 convolution of x (B, H, W, C) with a square kernel, zero padding
  `padding` on every side: (B, (H + 2p - k) // 2 + 1, (W + 2p - k) // 2 + 1, C_out)."""
  k = kernel.shape[0]
  e = k + k % 2

  def rows(n):  # (pad before, pad after) giving exactly the rows the outputs read, even
    out = (n + 2 * padding - k) // 2 + 1
    return padding, 2 * (out - 1) + e - n - padding

  (top, bottom), (left, right) = rows(x.shape[1]), rows(x.shape[2])
  x = lax.pad(x, jnp.zeros((), x.dtype),  # negative "padding" crops rows no output reads
              ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))
  return conv_s1(space_to_depth(x), _tap_kernel(kernel), 0)


# --- Strided convolutions: XLA's forward and input gradient, matmul kernel gradient ------------
# Measured per direction at DeepFill's stride-2 layers (2-core Xeon, batch 2): the
# space-to-depth view above is 2-7x slower than XLA's strided convolution in the forward
# direction (its 4 * C_in-channel convolution) and mostly faster in the input gradient;
# XLA's kernel gradient is slow (57 ms against 13 as strided-slice matmuls at
# 256x256x24 -> 96, 3x3). So the stride-s layers run XLA's forward, space-to-depth's input
# gradient, and a kernel gradient of one matmul per tap over every s-th row and column.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_strided(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
  """lax's stride-s convolution of x (B, H, W, C) with a square kernel, zero padding p on
  every side: (B, (H + 2p - k) // s + 1, (W + 2p - k) // s + 1, C_out)."""
  return _window(x, kernel, stride, padding)


def _conv_strided_fwd(x, kernel, stride, padding):
  return conv_strided(x, kernel, stride, padding), (x, kernel)


def _conv_strided_bwd(stride, padding, residuals, dy):
  x, kernel = residuals
  # The input gradient at stride 2: conv_s2's (one stride-1 convolution of dy over all four
  # phases, then depth-to-space); XLA's own took 1.5-3.6x longer at 5 of 8 measured layers
  # and 1.1-1.3x less at the other 3, 0.7x in all. Other strides: XLA's.
  fwd = (functools.partial(conv_s2, kernel=kernel, padding=padding) if stride == 2 else
         lambda v: _window(v, kernel, stride, padding))
  dx = jax.vjp(fwd, x)[1](dy)[0]  # (its unused forward is dead code under jit)
  dk = tap_kernel_grad(x, dy, kernel.shape[0], padding, stride)
  return dx, dk.astype(kernel.dtype)


conv_strided.defvjp(_conv_strided_fwd, _conv_strided_bwd)


# A matmul per tap reads a copy of the input for each of the k^2 taps and does C_out
# multiply-adds per element read: with few output channels over a large map it is memory
# bound and loses to XLA's kernel gradient (measured, forward + both gradients: CycleGAN's
# 7x7 64 -> 3 at 262x262, 757 ms against 299; SRGAN's 9x9 64 -> 3 at 96x96, batch 4, 435
# against 182), while small ones still win (the PatchGAN's 4x4 512 -> 1 at 31x31: 4.5 ms
# against 16.5). So below MIN_TAP_OUT_CHANNELS outputs, taps only up to this many elements:
MIN_TAP_OUT_CHANNELS = 16
MAX_NARROW_TAP_ELEMENTS = 1 << 23


def _taps_pay(x_shape, kernel_shape, stride: int, padding: int, dilation: int) -> bool:
  k, c_in, c_out = kernel_shape[0], kernel_shape[2], kernel_shape[3]
  if c_out >= MIN_TAP_OUT_CHANNELS:
    return True
  span = dilation * (k - 1) + 1
  rows = x_shape[0] * ((x_shape[1] + 2 * padding - span) // stride + 1) * (
      (x_shape[2] + 2 * padding - span) // stride + 1)
  return k * k * rows * c_in <= MAX_NARROW_TAP_ELEMENTS


def conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int,
         dilation: int = 1) -> jax.Array | None:
  """torch.nn.functional.conv2d's function (square kernel, symmetric zero padding) with a
  matmul kernel gradient (stride 1 with at most MAX_NARROW_CHANNELS on a side: every
  direction as matmuls, conv_flat), or None where none is written (dilated and strided)
  or where XLA's own kernel gradient is faster (_taps_pay)."""
  if stride == 1 and min(kernel.shape[2:]) <= MAX_NARROW_CHANNELS:
    return conv_flat(x, kernel, padding, dilation)
  if not _taps_pay(x.shape, kernel.shape, stride, padding, dilation):
    return None
  if stride == 1:
    return conv_s1(x, kernel, padding, dilation)
  if dilation == 1:
    return conv_strided(x, kernel, stride, padding)
  return None
