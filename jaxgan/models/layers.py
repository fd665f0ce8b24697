"""Shared Flax layers with PyTorch-compatible semantics."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models import batch_norm, cpu_conv

Dtype = Any

# DCGAN's initialisation (Radford et al. 2016): every conv weight ~ N(0, 0.02).
dcgan_conv_init = nn.initializers.normal(stddev=0.02)


def dcgan_bn_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  """BatchNorm scale ~ N(1, 0.02), as in the PyTorch DCGAN tutorial's weights_init."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def torch_batch_norm(train: bool, *, name: str, dtype: Dtype, axis_name: str | None = None,
                     scale_init=nn.initializers.ones, fused_backward: bool = False) -> nn.Module:
  """torch.nn.BatchNorm2d's defaults (momentum 0.1 == Flax 0.9, eps 1e-5) and its running
  variance (unbiased); jaxgan/models/batch_norm.py.

  The two-pass variance matches PyTorch to float32 round-off; the one-pass
  E[x^2] - E[x]^2 form does not. `fused_backward` computes the same function with a
  closed-form backward: fewer passes over the activations, which is what costs on a
  CPU; same variables either way, and the same as nn.BatchNorm's.
  """
  return batch_norm.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                              axis_name=axis_name, dtype=dtype, scale_init=scale_init,
                              fused_backward=fused_backward, name=name)


# --- Convolution formulations -------------------------------------------------------------
# XLA:CPU runs the kernel gradients of strided and transposed convolutions (and the
# transposed convolution itself) far slower than PyTorch's oneDNN. On CPU the 4x4
# stride-2 layers therefore run as custom VJPs that pick the fastest formulation for
# each direction (jaxgan/models/cpu_conv.py); on GPU and TPU the native lax ops are used.
# Both read the same kernel, so checkpoints are shared, and tests/test_cpu_conv.py checks
# every formulation against the lax op, values and gradients.

CONV_IMPLS = ("auto", "lax", "rearranged")


def resolve_conv_impl(impl: str) -> str:
  if impl not in CONV_IMPLS:
    raise ValueError(f"unknown conv impl {impl!r}; valid: {', '.join(CONV_IMPLS)}")
  if impl == "auto":
    return "rearranged" if jax.default_backend() == "cpu" else "lax"
  return impl


_NHWC = ("NHWC", "HWIO", "NHWC")


def conv_transpose_from_1x1(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """ConvTranspose2d(k, s=1, p=0) of a 1x1 input: a matmul onto a k x k map."""
  b = x.shape[0]
  kh, kw, cin, cout = kernel.shape
  dense = kernel[::-1, ::-1].transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout)
  return (x.reshape(b, cin) @ dense).reshape(b, kh, kw, cout)


class _TorchConv(nn.Module):
  """Fields and kernel shared by the PyTorch-semantics convolutions below (bias-free)."""
  features: int
  kernel_size: int = 4
  stride: int = 2
  padding: int = 1
  dtype: Dtype = jnp.float32
  impl: str = "auto"           # see CONV_IMPLS
  kernel_init: Any = dcgan_conv_init

  def _cast_with_kernel(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(x, kernel (kh, kw, in, out)), both in the compute dtype."""
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    return x.astype(self.dtype), kernel.astype(self.dtype)


class ConvTranspose2d(_TorchConv):
  """torch.nn.ConvTranspose2d(in, features, kernel, stride, padding, output_padding,
  bias=False), NHWC (output_padding: extra rows/columns at the far side, as CycleGAN's
  3x3 stride-2 upsampling uses).

  The kernel is stored as (kh, kw, in, out) and applied as a correlation over the
  stride-dilated input padded by kernel - 1 - padding; a PyTorch weight (in, out, kh, kw)
  maps onto it transposed and spatially flipped (see jaxgan/models/torch_import.py).
  Output size: (H - 1) * stride - 2 * padding + kernel + output_padding.
  """
  output_padding: int = 0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x, kernel = self._cast_with_kernel(x)
    k = self.kernel_size
    pad = k - 1 - self.padding
    if pad < 0:
      raise ValueError(f"padding {self.padding} > kernel_size - 1 is not supported")
    if self.output_padding:
      if (resolve_conv_impl(self.impl) == "rearranged"
          and (k, self.stride, self.padding, self.output_padding) == (3, 2, 1, 1)):
        return cpu_conv.conv_transpose_3x3_s2(x, kernel)
      return lax.conv_transpose(x, kernel, strides=(self.stride, self.stride),
                                padding=((pad, pad + self.output_padding),) * 2,
                                dimension_numbers=_NHWC)
    if resolve_conv_impl(self.impl) == "rearranged":
      if (k, self.stride) == (4, 2):
        return cpu_conv.conv_transpose_stored(x, kernel, self.padding)
      if self.stride == 1 and self.padding == 0 and x.shape[1:3] == (1, 1):
        return conv_transpose_from_1x1(x, kernel)
    return lax.conv_transpose(x, kernel, strides=(self.stride, self.stride),
                              padding=((pad, pad), (pad, pad)), dimension_numbers=_NHWC)


class Conv2d(_TorchConv):
  """torch.nn.Conv2d(in, features, kernel, stride, padding, bias=False), NHWC, DCGAN init."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x, kernel = self._cast_with_kernel(x)
    return torch_conv2d(x, kernel, self.stride, self.padding, self.impl)


# --- Spectral normalisation (Miyato et al. 2018) --------------------------------------------
# The power-iteration vector u of each layer is a network statistic like BatchNorm's
# running mean: it lives in the "batch_stats" collection, so it is carried in the state
# pytree, checkpointed, and updated only where the step applies the network with
# mutable=["batch_stats"] in train mode.


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  return x * lax.rsqrt(jnp.sum(jnp.square(x)) + eps)


def power_iteration(w: jax.Array, u: jax.Array, n_iters: int) -> tuple[jax.Array, jax.Array]:
  """(sigma, u): the largest singular value of w (rows, cols) by `n_iters` power steps.

  u (cols,) estimates the top right singular vector; v = normalize(w u) the left one.
  sigma = v^T w u, differentiated with u and v held constant (as in the paper).
  """
  for _ in range(n_iters):
    v = _l2_normalize(w @ u)
    u = _l2_normalize(w.T @ v)
  u = lax.stop_gradient(u)
  v = lax.stop_gradient(_l2_normalize(w @ u))
  return v @ (w @ u), u


def spectral_normalize(module: nn.Module, kernel: jax.Array, update: bool,
                       n_iters: int = 1) -> jax.Array:
  """kernel / sigma(kernel as a (fan_in, out) matrix), u kept in module's batch_stats."""
  w = kernel.reshape(-1, kernel.shape[-1])                               # (fan_in, out)
  u_var = module.variable("batch_stats", "sn_u",
                          lambda: _l2_normalize(jax.random.normal(module.make_rng("params"),
                                                                  (w.shape[1],), jnp.float32)))
  sigma, u = power_iteration(w, u_var.value, n_iters if update else 0)
  if update and not module.is_initializing():
    u_var.value = u
  return kernel / sigma


class SNDense(nn.Module):
  """Dense layer, optionally spectrally normalised."""
  features: int
  spectral: bool = False       # divide the kernel by its largest singular value
  use_bias: bool = True
  n_power_iterations: int = 1  # per train-mode call
  kernel_init: Any = nn.initializers.lecun_normal()
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    if self.spectral:
      kernel = spectral_normalize(self, kernel, update_stats, self.n_power_iterations)
    y = x.astype(self.dtype) @ kernel.astype(self.dtype)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class SNConv(nn.Module):
  """Stride-1 or -2 'SAME' convolution (NHWC), optionally spectrally normalised."""
  features: int
  kernel_size: int = 3
  stride: int = 1
  spectral: bool = False
  use_bias: bool = True
  n_power_iterations: int = 1
  kernel_init: Any = nn.initializers.xavier_uniform()
  dtype: Dtype = jnp.float32
  impl: str = "auto"           # see CONV_IMPLS (stride 1: torch_conv2d's CPU form)

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool = False) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    if self.spectral:
      kernel = spectral_normalize(self, kernel, update_stats, self.n_power_iterations)
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    if self.stride == 1 and k % 2:  # 'SAME' is then k // 2 on every side
      y = torch_conv2d(x, kernel, 1, k // 2, self.impl)
    else:
      y = lax.conv_general_dilated(x, kernel, (self.stride, self.stride), "SAME",
                                   dimension_numbers=_NHWC)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class SNEmbed(nn.Module):
  """Class embedding table (num, features), optionally spectrally normalised (the
  projection discriminator's class embedding, Miyato & Koyama 2018)."""
  num: int
  features: int
  spectral: bool = False
  n_power_iterations: int = 1

  @nn.compact
  def __call__(self, labels: jax.Array, update_stats: bool = False) -> jax.Array:
    table = self.param("embedding", nn.initializers.xavier_uniform(), (self.num, self.features))
    if self.spectral:
      table = spectral_normalize(self, table, update_stats, self.n_power_iterations)
    return table[labels]


# --- StyleGAN2 blocks (Karras et al. 2020) ---------------------------------------------------
# Equalized learning rate: parameters are stored ~N(0, 1) (scaled by 1/lr_mul) and multiplied
# at run time by lr_mul / sqrt(fan_in), so Adam's per-parameter step sizes match across layers.
# Resampling uses the [1, 3, 3, 1] FIR filter as upfirdn: zero-insert by `up`, pad, convolve
# with the separable normalised filter, keep every `down`-th sample.

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)
LRELU_GAIN = 2.0 ** 0.5  # keeps the activations' second moment through leaky ReLU(0.2)


def bias_act(x: jax.Array, bias: jax.Array | None, *, act: bool, gain: float = 1.0,
             clamp: float | None = None) -> jax.Array:
  """x + bias, then leaky ReLU(0.2) * sqrt(2) (act) times `gain`, clipped to +-clamp * gain."""
  if bias is not None:
    x = x + bias.astype(x.dtype)
  if act:
    x = jax.nn.leaky_relu(x, 0.2) * LRELU_GAIN
  if gain != 1.0:
    x = x * gain
  if clamp:
    x = jnp.clip(x, -clamp * gain, clamp * gain)
  return x


FIR_IMPLS = ("auto", "slices", "conv")


def _fir_1d(x: jax.Array, axis: int, taps: jax.Array, down: int, impl: str) -> jax.Array:
  """VALID convolution with `taps` along spatial `axis` (1 or 2), keeping every `down`-th
  output: a sum of shifted slices (fuses elementwise; "slices") or a depthwise conv
  ("conv"). "auto" is slices: XLA:CPU runs the depthwise conv several times slower
  (measured: StyleGAN2-64's G forward at width 64, batch 16, 362 ms against 64 ms), for a
  double backward that compiles in about the same time."""
  if impl == "auto":
    impl = "slices"
  if impl == "conv":
    c = x.shape[-1]
    shape = (len(taps), 1, 1, c) if axis == 1 else (1, len(taps), 1, c)
    kernel = jnp.broadcast_to(taps[::-1].astype(x.dtype).reshape(shape[:2] + (1, 1)), shape)
    strides = (down, 1) if axis == 1 else (1, down)
    return lax.conv_general_dilated(x, kernel, strides, "VALID", dimension_numbers=_NHWC,
                                    feature_group_count=c)
  if impl != "slices":
    raise ValueError(f"unknown FIR impl {impl!r}; valid: {', '.join(FIR_IMPLS)}")
  n = x.shape[axis] - len(taps) + 1
  y = None
  for t, c in enumerate(taps[::-1]):  # convolution, not correlation
    term = c.astype(x.dtype) * lax.slice_in_dim(x, t, t + n, axis=axis)
    y = term if y is None else y + term
  return lax.slice_in_dim(y, 0, n, stride=down, axis=axis) if down > 1 else y


def _pad_or_crop(x: jax.Array, axis: int, before: int, after: int) -> jax.Array:
  widths = [(0, 0, 0)] * x.ndim
  widths[axis] = (before, after, 0)
  return lax.pad(x, jnp.zeros((), x.dtype), widths)  # negative widths crop


def upfirdn_2d(x: jax.Array, *, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0),
               gain: float = 1.0, taps=FIR_TAPS, impl: str = "auto") -> jax.Array:
  """NHWC upfirdn with the separable filter outer(taps, taps) / sum(taps)^2 times `gain`.

  Each spatial axis: zero-insert (sample i lands at up * i, length up * n), pad by
  `pad` = (before, after) (negative crops), convolve VALID, keep every `down`-th sample.
  `impl`: see FIR_IMPLS (the same function).
  """
  f = jnp.asarray(taps, jnp.float32)
  f = f / jnp.sum(f) * (gain ** 0.5)  # the gain split over the two passes
  for axis in (1, 2):
    if up > 1:
      shape = list(x.shape)
      x = jnp.expand_dims(x, axis + 1)
      x = _pad_or_crop(x, axis + 1, 0, up - 1)
      shape[axis] *= up
      x = x.reshape(shape)
    x = _fir_1d(_pad_or_crop(x, axis, *pad), axis, f, down, impl)
  return x


def upsample_2d(x: jax.Array) -> jax.Array:
  """2x FIR upsampling, H -> 2H (StyleGAN2's RGB skips); a constant image stays constant."""
  return upfirdn_2d(x, up=2, pad=(2, 1), gain=4.0)


def fir_filter_2d(taps=FIR_TAPS, gain: float = 1.0) -> jax.Array:
  """The separable 2-D filter of upfirdn_2d: outer(taps, taps) / sum(taps)^2 * gain."""
  f = jnp.asarray(taps, jnp.float32)
  return jnp.outer(f, f) / jnp.sum(f) ** 2 * gain


def same_conv(x: jax.Array, kernel: jax.Array, impl: str = "lax") -> jax.Array:
  """Stride-1 'same' convolution; impl "rearranged" (resolve_conv_impl): cpu_conv.conv_same,
  whose kernel gradient is one matmul per tap (XLA:CPU's own is slow)."""
  if impl == "rearranged":
    return cpu_conv.conv_same(x, kernel)
  k = kernel.shape[0]
  return lax.conv_general_dilated(x, kernel, (1, 1), ((k // 2, k // 2),) * 2,
                                  dimension_numbers=_NHWC)


def conv_up_2d(x: jax.Array, kernel: jax.Array, impl: str = "lax") -> jax.Array:
  """3x3 'same' conv at twice the resolution, (B, H, W, I) -> (B, 2H, 2W, O): the transposed
  (input-dilated) convolution then the FIR blur, equal to FIR upsampling padded by (3, 2)
  followed by a VALID conv, at a quarter of its MACs. impl "rearranged": the transposed
  convolution by output phase (cpu_conv.conv_transpose_3x3_s2: one stride-1 2x2 convolution
  with a matmul kernel gradient), then the same blur."""
  k = kernel.shape[0]
  if impl == "rearranged" and k == 3:
    # On x padded by one row and column in front, the by-phase transposed convolution is
    # the full (2H + 1)-sized one behind a zero row and column: the blur's (1, 1) padding
    # becomes (0, 1).
    y = cpu_conv.conv_transpose_3x3_s2(jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0))), kernel)
    return upfirdn_2d(y, pad=(0, 1), gain=4.0)
  y = lax.conv_general_dilated(x, kernel, (1, 1), ((k - 1, k - 1),) * 2, lhs_dilation=(2, 2),
                               dimension_numbers=_NHWC)
  return upfirdn_2d(y, pad=(1, 1), gain=4.0)


def conv_down_2d(x: jax.Array, kernel: jax.Array, impl: str = "lax") -> jax.Array:
  """Conv at half the resolution, (B, H, W, I) -> (B, H/2, W/2, O): FIR blur, then a stride-2
  VALID conv (3x3: the blur pads by 2; 1x1: blur and subsample first, as upfirdn down=2).
  impl "rearranged": the same function with matmul kernel gradients (cpu_conv.conv_s1 for
  1x1, cpu_conv.conv_strided for 3x3)."""
  k = kernel.shape[0]
  if k == 1:
    y = upfirdn_2d(x, down=2, pad=(1, 1))
    if impl == "rearranged":
      return cpu_conv.conv_s1(y, kernel, 0)
    return lax.conv_general_dilated(y, kernel, (1, 1), "VALID", dimension_numbers=_NHWC)
  p = (len(FIR_TAPS) - 2 + k - 1) // 2
  y = upfirdn_2d(x, pad=(p, p))
  if impl == "rearranged":
    # XLA's strided forward (the space-to-depth view, 16/9 of the MACs here, was 1.1-2.0x
    # slower forward + both gradients at StyleGAN2-64's 8x8-64x64 layers).
    return cpu_conv.conv_strided(y, kernel, 2, 0)
  return lax.conv_general_dilated(y, kernel, (2, 2), "VALID", dimension_numbers=_NHWC)


class EqualizedDense(nn.Module):
  """Dense layer with equalized learning rate: y = x @ (W * lr_mul / sqrt(in)) + b * lr_mul."""
  features: int
  lr_mul: float = 1.0
  bias_init: float = 0.0       # the effective initial bias is bias_init * lr_mul
  act: bool = False            # leaky ReLU(0.2) * sqrt(2)
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    w = self.param("kernel", lambda k, s: jax.random.normal(k, s) / self.lr_mul,
                   (fan_in, self.features))
    b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
    w = w * (self.lr_mul / fan_in ** 0.5)
    y = x.astype(self.dtype) @ w.astype(self.dtype)
    return bias_act(y, b * self.lr_mul, act=self.act)


class EqualizedConv(nn.Module):
  """Conv with equalized learning rate (weight * 1/sqrt(in * k * k)), 'same' or resampled by 2
  (`resample` = "down": the FIR conv_down_2d), bias, optional activation, gain and clamp."""
  features: int
  kernel_size: int = 3
  resample: str = ""           # "" or "down"
  use_bias: bool = True
  act: bool = True
  clamp: float | None = None
  dtype: Dtype = jnp.float32
  conv_impl: str = "lax"       # resolved (resolve_conv_impl): "rearranged" = same_conv's

  @nn.compact
  def __call__(self, x: jax.Array, gain: float = 1.0) -> jax.Array:
    k, fan_in = self.kernel_size, x.shape[-1] * self.kernel_size ** 2
    w = self.param("kernel", nn.initializers.normal(1.0), (k, k, x.shape[-1], self.features))
    w = (w * fan_in ** -0.5).astype(self.dtype)
    x = x.astype(self.dtype)
    if self.resample == "down":
      y = conv_down_2d(x, w, self.conv_impl)
    else:
      y = same_conv(x, w, self.conv_impl)
    b = self.param("bias", nn.initializers.zeros, (self.features,)) if self.use_bias else None
    return bias_act(y, b, act=self.act, gain=gain, clamp=self.clamp)


def modulated_conv(x: jax.Array, kernel: jax.Array, styles: jax.Array, *, demodulate: bool = True,
                   up: bool = False, eps: float = 1e-8, impl: str = "lax") -> jax.Array:
  """StyleGAN2's modulated convolution, as a shared-weight conv between per-sample scalings.

  Equals convolving sample b with w'_{k,i,o} = w_{k,i,o} s_{b,i}, demodulated by
  1 / sqrt(sum_{k,i} w'^2 + eps) per output channel (the per-sample-weight form).

  Args:
    x: (B, H, W, I) activations.
    kernel: (k, k, I, O) weights, any scale (demodulation removes it).
    styles: (B, I) per-sample input-channel scales.
    demodulate: normalise each output channel (not for toRGB).
    up: 2x FIR upsampling (conv_up_2d) instead of a 'same' conv.
    impl: "lax" or "rearranged" (the CPU formulations of same_conv and conv_up_2d).
  Returns:
    (B, H', W', O) in x's dtype.
  """
  y = x * styles[:, None, None, :].astype(x.dtype)
  if up:
    y = conv_up_2d(y, kernel.astype(x.dtype), impl)
  else:
    y = same_conv(y, kernel.astype(x.dtype), impl)
  if demodulate:
    w2 = jnp.sum(jnp.square(kernel.astype(jnp.float32)), axis=(0, 1))          # (I, O)
    d = lax.rsqrt(jnp.square(styles.astype(jnp.float32)) @ w2 + eps)           # (B, O)
    y = y * d[:, None, None, :].astype(y.dtype)
  return y


def minibatch_stddev(x: jax.Array, group_size: int, num_channels: int = 1) -> jax.Array:
  """Appends `num_channels` features: the std over each group of `group_size` consecutive
  examples, averaged over its channel slice and pixels, broadcast to the group.

  Consecutive groups keep a group on one device when the per-device batch is a multiple of
  the group size (NVIDIA groups strided examples; both are random groups of the batch).
  """
  b, h, w, c = x.shape
  g = min(group_size, b)
  if b % g:
    raise ValueError(f"batch {b} is not a multiple of the minibatch-stddev group {g}")
  y = x.astype(jnp.float32).reshape(b // g, g, h, w, num_channels, c // num_channels)
  y = jnp.sqrt(jnp.var(y, axis=1) + 1e-8)                     # (b/g, h, w, F, c/F)
  y = jnp.mean(y, axis=(1, 2, 4))                             # (b/g, F)
  y = jnp.broadcast_to(y[:, None, None, None, :], (b // g, g, h, w, num_channels))
  return jnp.concatenate([x, y.reshape(b, h, w, num_channels).astype(x.dtype)], axis=-1)


# --- Spectral normalisation as torch.nn.utils.spectral_norm ---------------------------------
# PyTorch keeps both power-iteration vectors and computes sigma = u^T W v from the updated u
# and the v of the same iteration (before u moved); spectral_normalize above recomputes v
# from the new u. Layers that must equal PyTorch's (DeepFill's SN-PatchGAN) use this form.


def _torch_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """torch.nn.functional.normalize(x, dim=0): x / max(|x|, eps)."""
  return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)


def torch_spectral_normalize(module: nn.Module, kernel: jax.Array, update: bool,
                             n_iters: int = 1) -> jax.Array:
  """kernel / sigma as torch.nn.utils.spectral_norm (dim 0 of the torch weight = our last).

  batch_stats of `module`: sn_u (out,) and sn_v (fan_in,), v in our kernel's (kh, kw, in)
  order. `update` (train mode): n_iters steps v = N(W^T u), u = N(W v), stored; sigma =
  u^T W v with u and v held constant (the gradient flows through W only).
  """
  w = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)          # (fan_in, out) = W^T

  def init(n):
    return lambda: _torch_normalize(jax.random.normal(module.make_rng("params"), (n,)))

  u_var = module.variable("batch_stats", "sn_u", init(w.shape[1]))
  v_var = module.variable("batch_stats", "sn_v", init(w.shape[0]))
  u, v = u_var.value, v_var.value
  if update:
    wc = lax.stop_gradient(w)
    for _ in range(n_iters):
      v = _torch_normalize(wc @ u)
      u = _torch_normalize(wc.T @ v)
    if not module.is_initializing():
      u_var.value, v_var.value = u, v
  sigma = jnp.dot(u, w.T @ v, precision=lax.Precision.HIGHEST)
  return kernel / sigma.astype(kernel.dtype)


# --- Super-resolution blocks (SRGAN, ESRGAN) ------------------------------------------------
# PyTorch's default initialisation (kaiming_uniform with a = sqrt(5)): weights and biases
# ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The SR networks keep it where their references do.
torch_default_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_default_bias_init(fan_in: int):
  bound = 1.0 / fan_in ** 0.5
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                  bound)


def torch_conv2d(x: jax.Array, kernel: jax.Array, stride: int, padding: int, impl: str,
                 dilation: int = 1) -> jax.Array:
  """torch.nn.functional.conv2d(x, kernel, stride, padding, dilation) on NHWC / HWIO with a
  square kernel. impl "rearranged" (CPU): DCGAN's 4x4 stride-2 custom VJPs where they fit,
  else cpu_conv.conv (matmul kernel gradients; stride 2 through space-to-depth); "lax":
  XLA's convolution. Every form computes the same function (tests/test_cpu_conv.py)."""
  if resolve_conv_impl(impl) == "rearranged":
    if ((kernel.shape[0], stride, dilation) == (4, 2, 1)
        and cpu_conv.supported(x.shape[1], x.shape[2], padding)):
      return cpu_conv.strided_conv(x, kernel, padding)
    y = cpu_conv.conv(x, kernel, stride, padding, dilation)
    if y is not None:
      return y
  return lax.conv_general_dilated(x, kernel, (stride, stride), ((padding, padding),) * 2,
                                  rhs_dilation=(dilation, dilation), dimension_numbers=_NHWC)


class BiasedConv2d(_TorchConv):
  """torch.nn.Conv2d(in, features, kernel, stride, padding, bias=use_bias), NHWC, with
  variables {kernel (kh, kw, in, out), bias (out,)}: one Flax module per torch module, so a
  state_dict maps key for key. Default init: PyTorch's."""
  use_bias: bool = True
  kernel_init: Any = torch_default_kernel_init
  bias_init: Any = None        # None: PyTorch's U(+-1/sqrt(fan_in))

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1] * self.kernel_size ** 2
    x, kernel = self._cast_with_kernel(x)
    y = torch_conv2d(x, kernel, self.stride, self.padding, self.impl)
    if self.use_bias:
      init = self.bias_init or torch_default_bias_init(fan_in)
      y = y + self.param("bias", init, (self.features,)).astype(y.dtype)
    return y


class PReLU(nn.Module):
  """torch.nn.PReLU(num_parameters, init=0.25): max(0, x) + a * min(0, x), with one slope
  (the default) or one per channel (the last axis)."""
  num_parameters: int = 1
  init: float = 0.25

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    a = self.param("alpha", nn.initializers.constant(self.init), (self.num_parameters,))
    return jnp.where(x >= 0, x, a.astype(x.dtype) * x)


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
  """torch.nn.PixelShuffle(r) in NHWC: (B, H, W, C r^2) -> (B, H r, W r, C), input channel
  c r^2 + i r + j landing at row offset i, column offset j (PyTorch's channel order)."""
  b, h, w, c = x.shape
  if c % (r * r):
    raise ValueError(f"pixel_shuffle({r}) needs channels divisible by {r * r}, got {x.shape}")
  x = x.reshape(b, h, w, c // (r * r), r, r).transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * r, w * r, c // (r * r))


def upsample_nearest(x: jax.Array, r: int = 2) -> jax.Array:
  """F.interpolate(x, scale_factor=r, mode='nearest') in NHWC."""
  return jnp.repeat(jnp.repeat(x, r, axis=1), r, axis=2)


def pixel_unshuffle(x: jax.Array, r: int) -> jax.Array:
  """BasicSR's pixel_unshuffle (torch's PixelUnshuffle) in NHWC: (B, H, W, C) ->
  (B, H/r, W/r, C r^2), the inverse of pixel_shuffle."""
  b, h, w, c = x.shape
  if h % r or w % r:
    raise ValueError(f"pixel_unshuffle({r}) needs H and W divisible by {r}, got {x.shape}")
  x = x.reshape(b, h // r, r, w // r, r, c).transpose(0, 1, 3, 5, 2, 4)
  return x.reshape(b, h // r, w // r, c * r * r)
