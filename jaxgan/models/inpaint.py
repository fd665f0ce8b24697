"""DeepFill v2 (Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019).

The networks of the official TensorFlow code (JiahuiYu/generative_inpainting v2:
inpaint_model.py, inpaint_ops.py) as the PyTorch port nipponjo/deepfillv2-pytorch
(model/networks.py) builds them, layer for layer, so the port's state_dicts (its converted
official weights included) map onto ours (jaxgan/models/torch_import.py) and
tests/test_inpaint_torch.py compares the two (benchmarks/torch_inpaint.py):

- Gated conv: a conv to 2f channels (bias), split, ELU(features) * sigmoid(gate); the
  output layers are plain convs followed by tanh. Convs pad symmetrically, as the port
  (TF 'SAME' pads stride-2 layers asymmetrically; the port's weights were fine-tuned to
  this padding).
- G input: [image * (1 - mask), ones, mask] (5 channels), mask 1 = hole.
- Coarse net (cnum c = 48): 5x5 c/2; two downsampling blocks (3x3/2, 3x3) to c, 2c;
  3x3 2c, dilated 3x3 2c at rates 2, 4, 8, 16, two 3x3 2c; two upsampling blocks (nearest
  2x, 3x3, 3x3) to c and to c/4 (hidden c/2); 3x3 to channels; tanh.
- Refine net on coarse * mask + image * (1 - mask): a conv branch (as the coarse net's
  encoder and dilated convs, hidden widths c/2 and c in its down blocks) and an attention
  branch (encoder, a ReLU-gated 3x3, contextual attention, two 3x3); the two concatenated,
  two 3x3 2c, the same decoder; tanh.
- D (SN-PatchGAN): 6 spectrally normalised 5x5 stride-2 convs (padding 2, bias) of widths
  w, 2w, 4w, 4w, 4w, 4w with leaky ReLU(0.2) after every one, flattened: (B, 4w * H/64 *
  W/64) logits. Input [image, mask] (the official gan_with_mask; no ones channel).

At 256x256 (any size: the parameter counts do not depend on it), 3 channels:
G 4,052,478 parameters (cnum 48), D 5,946,816 (w 64, 4 input channels); tests/test_inpaint.py checks both
against the PyTorch reference.

Sizes: H and W must be multiples of 8 (contextual attention matches the 1/8-resolution
mask against the 1/4-resolution features downscaled by 2).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models import layers

MULTIPLE = 8


def composite(image: jax.Array, mask: jax.Array, out: jax.Array) -> jax.Array:
  """out inside the hole (mask 1), image outside: the inpainted image."""
  return out * mask + image * (1.0 - mask)


def check_inputs(image: jax.Array, mask: jax.Array, channels: int | None = None) -> None:
  """Clear errors for the shapes the networks cannot take."""
  if image.ndim != 4 or mask.ndim != 4:
    raise ValueError(f"expected image (B, H, W, C) and mask (B, H, W, 1), got {image.shape} "
                     f"and {mask.shape}")
  if mask.shape != (*image.shape[:3], 1):
    raise ValueError(f"mask must be (B, H, W, 1) = {(*image.shape[:3], 1)} for images "
                     f"{image.shape}, got {mask.shape}")
  if channels is not None and image.shape[-1] != channels:
    raise ValueError(f"expected {channels} image channels, got {image.shape}")
  h, w = image.shape[1:3]
  if h % MULTIPLE or w % MULTIPLE:
    raise ValueError(f"DeepFill needs H and W multiples of {MULTIPLE}, got {h}x{w}")


def _torch_conv_init(scale: float, mode: str):
  """kaiming_uniform on a (k, k, in, out) kernel: bound sqrt(3 * scale / fan)."""
  return nn.initializers.variance_scaling(scale, mode, "uniform")


class GatedConv(nn.Module):
  """The port's GConv: conv (k x k, stride, dilation `rate`, padding rate * (k - 1) / 2)
  to 2 * features, then act(first half) * sigmoid(second half); `gated=False`: the plain
  conv to `features` (the output layer)."""
  features: int
  kernel_size: int = 3
  stride: int = 1
  rate: int = 1
  activation: str | None = "elu"   # "elu", "relu" or None
  gated: bool = True
  dtype: Any = jnp.float32
  conv_impl: str = "auto"      # layers.torch_conv2d's

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, n = self.kernel_size, 2 * self.features if self.gated else self.features
    # The port's init: kaiming_uniform(fan_out, relu gain) before ELU / ReLU, torch's
    # default conv init (bound 1/sqrt(fan_in)) before the output tanh; biases 0.
    init = (_torch_conv_init(2.0, "fan_out") if self.activation else
            _torch_conv_init(1.0 / 3.0, "fan_in"))
    kernel = self.param("kernel", init, (k, k, x.shape[-1], n))
    bias = self.param("bias", nn.initializers.zeros, (n,))
    p = self.rate * (k - 1) // 2
    y = layers.torch_conv2d(x.astype(self.dtype), kernel.astype(self.dtype), self.stride, p,
                            self.conv_impl, dilation=self.rate)
    y = y + bias.astype(self.dtype)
    if not self.gated:
      return y
    feat, gate = jnp.split(y, 2, axis=-1)
    act = {"elu": jax.nn.elu, "relu": jax.nn.relu}[self.activation]
    return act(feat) * jax.nn.sigmoid(gate)


def _upsample2(x: jax.Array) -> jax.Array:
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


# --- Contextual attention (Yu et al. 2018) -------------------------------------------------


def _patches(x: jax.Array, k: int, stride: int, pad: int) -> jax.Array:
  """(H, W, C) -> (k, k, C, L): torch.nn.Unfold's k x k blocks (zero padding `pad`), as
  conv kernels, L = row-major block positions."""
  xp = jnp.pad(x, ((pad, pad), (pad, pad), (0, 0)))
  n_h = (x.shape[0] + 2 * pad - k) // stride + 1
  n_w = (x.shape[1] + 2 * pad - k) // stride + 1
  rows = [[xp[dy:dy + stride * (n_h - 1) + 1:stride, dx:dx + stride * (n_w - 1) + 1:stride]
           for dx in range(k)] for dy in range(k)]
  p = jnp.stack([jnp.stack(r) for r in rows])                   # (k, k, n_h, n_w, C)
  return p.transpose(0, 1, 4, 2, 3).reshape(k, k, x.shape[-1], n_h * n_w)


def _fuse(scores: jax.Array) -> jax.Array:
  """Adds each score (l, p) to its diagonal neighbours (l -+ 1, p -+ 1) with zero padding:
  the port's conv with eye(3) over the (L, P) score matrix (flat indices, as it does)."""
  s = jnp.pad(scores, 1)
  return s[:-2, :-2] + s[1:-1, 1:-1] + s[2:, 2:]


def contextual_attention(f: jax.Array, b: jax.Array, mask: jax.Array, *, rate: int = 2,
                         softmax_scale: float = 10.0, n_down: int = 2,
                         fuse: bool = True) -> jax.Array:
  """The refine net's contextual attention (ksize 3, stride 1, fuse_k 3) as the port's.

  Matches 3x3 patches of the foreground f against those of the background b, both
  downscaled by `rate` (nearest), by the inner product with each background patch
  normalised (norm clamped at 1e-4); fuses the scores along both flattened orders (so
  that large coherent patches win); masks out background patches that touch the hole
  (3x3 patches of the mask downscaled by 2^n_down * rate); softmax(scale * score) over
  the background patches; pastes the full-resolution 2*rate x 2*rate background patches
  weighted by it (the transposed conv, stride rate, padding 1, divided by 4).

  Args:
    f, b: (B, h, w, C) features (h, w even).
    mask: (B, h * 2^n_down, w * 2^n_down, 1), 1 = hole. Per example (the port uses the
      first example's mask for the whole batch: the same when the batch shares one mask).
  Returns:
    (B, h, w, C) in f's dtype (computed in float32).
  """
  out_dtype = f.dtype
  f, b, mask = (t.astype(jnp.float32) for t in (f, b, mask))
  k = 2 * rate
  down = 2 ** n_down * rate
  m_small = mask[:, ::down, ::down]
  if m_small.shape[1:3] != (b.shape[1] // rate, b.shape[2] // rate):
    raise ValueError(f"contextual attention: mask {mask.shape} does not match features "
                     f"{b.shape} (mask / {down} must equal features / {rate})")

  def one(fi, bi, mi):
    raw = _patches(bi, k, rate, 1)                                # (k, k, C, L)
    fs, bs = fi[::rate, ::rate], bi[::rate, ::rate]               # nearest downscale
    hf, wf, hb, wb = *fs.shape[:2], *bs.shape[:2]
    w = _patches(bs, 3, 1, 1)                                     # (3, 3, C, L)
    norm = jnp.sqrt(jnp.sum(jnp.square(w), axis=(0, 1, 2)))
    w = w / jnp.maximum(norm, 1e-4)
    # The port's conv of the foreground with every background patch as a kernel, as one
    # matmul of patch matrices: XLA:CPU differentiated the per-example convolutions
    # (grouped under vmap) ~20x slower than these matmuls (measured at 256: 13.8 s of
    # G's 18 s a step).
    f_patches = _patches(fs, 3, 1, 1)                             # (3, 3, C, P)
    s = jnp.einsum("ijcl,ijcp->lp", w, f_patches,
                   precision=lax.Precision.HIGHEST)               # (L, P) as the port's
    if fuse:
      s = _fuse(s)
      # Again along the transposed (column-major) orders of both maps.
      s = s.reshape(hb, wb, hf, wf).transpose(1, 0, 3, 2).reshape(wb * hb, wf * hf)
      s = _fuse(s)
      s = s.reshape(wb, hb, wf, hf).transpose(1, 0, 3, 2).reshape(hb * wb, hf * wf)
    mm = (jnp.sum(_patches(mi, 3, 1, 1), axis=(0, 1, 2)) == 0).astype(jnp.float32)  # (L,)
    s = s * mm[:, None]
    a = jax.nn.softmax(s * softmax_scale, axis=0) * mm[:, None]   # (L, P)
    # conv_transpose2d(a, raw, stride rate, padding 1): every foreground position's mix of
    # the k x k background patches (one matmul), overlap-added at stride `rate`.
    mixed = jnp.einsum("lp,ijcl->pijc", a, raw, precision=lax.Precision.HIGHEST)
    mixed = mixed.reshape(hf, wf, k, k, -1)
    out_h, out_w = (hf - 1) * rate - 2 + k, (wf - 1) * rate - 2 + k
    y = 0.0
    for ky in range(k):
      for kx in range(k):  # output (rate i - 1 + ky, rate j - 1 + kx) gets patch tap (ky, kx)
        pads = [(ky - 1, out_h - 1 - ((hf - 1) * rate + ky - 1), rate - 1),
                (kx - 1, out_w - 1 - ((wf - 1) * rate + kx - 1), rate - 1), (0, 0, 0)]
        y = y + lax.pad(mixed[:, :, ky, kx], jnp.zeros((), mixed.dtype), pads)
    return y / 4.0

  return jax.vmap(one)(f, b, m_small).astype(out_dtype)


# --- Generator ---------------------------------------------------------------------------------


class _Stage(nn.Module):
  """The parts shared by the coarse and the refine nets, named as the port's modules."""
  cnum: int
  dtype: Any
  conv_impl: str

  def gconv(self, name, f, k=3, stride=1, rate=1, activation="elu", gated=True):
    return GatedConv(f, k, stride, rate, activation, gated, self.dtype, self.conv_impl,
                     name=name)

  def down(self, x, prefix, f, hidden=None):
    x = self.gconv(f"{prefix}_conv1_downsample", hidden or f, stride=2)(x)
    return self.gconv(f"{prefix}_conv2", f)(x)

  def up(self, x, prefix, f, hidden=None):
    x = self.gconv(f"{prefix}_conv1_upsample", hidden or f)(_upsample2(x))
    return self.gconv(f"{prefix}_conv2", f)(x)

  def dilated(self, x, prefix):
    for i, rate in enumerate((1, 2, 4, 8, 16), start=1):
      x = self.gconv(f"{prefix}conv_bn{i}", 2 * self.cnum, rate=rate)(x)
    return x

  def decode(self, x, channels):
    c = self.cnum
    x = self.up(x, "up_block1", c)
    x = self.up(x, "up_block2", c // 4, c // 2)
    x = self.gconv("conv_to_rgb", channels, activation=None, gated=False)(x)
    return jnp.tanh(x.astype(jnp.float32))


class CoarseNet(_Stage):
  channels: int = 3

  @nn.compact
  def __call__(self, x):
    c = self.cnum
    x = self.gconv("conv1", c // 2, k=5)(x)
    x = self.down(x, "down_block1", c)
    x = self.down(x, "down_block2", 2 * c)
    x = self.dilated(x, "")
    x = self.gconv("conv_bn6", 2 * c)(x)
    x = self.gconv("conv_bn7", 2 * c)(x)
    return self.decode(x, self.channels)


class RefineNet(_Stage):
  channels: int = 3

  @nn.compact
  def __call__(self, x, mask):
    c = self.cnum
    h = self.gconv("conv_conv1", c // 2, k=5)(x)               # conv branch
    h = self.down(h, "conv_down_block1", c, c // 2)
    h = self.down(h, "conv_down_block2", 2 * c, c)
    h = self.dilated(h, "conv_")
    a = self.gconv("ca_conv1", c // 2, k=5)(x)                 # attention branch
    a = self.down(a, "ca_down_block1", c, c // 2)
    a = self.down(a, "ca_down_block2", 2 * c)
    a = self.gconv("ca_conv_bn1", 2 * c, activation="relu")(a)
    a = contextual_attention(a, a, mask)
    a = self.gconv("ca_conv_bn4", 2 * c)(a)
    a = self.gconv("ca_conv_bn5", 2 * c)(a)
    x = jnp.concatenate([h, a], axis=-1)
    x = self.gconv("conv_bn6", 2 * c)(x)
    x = self.gconv("conv_bn7", 2 * c)(x)
    return self.decode(x, self.channels)


class DeepFillGenerator(nn.Module):
  """(image (B, H, W, C) in [-1, 1], mask (B, H, W, 1), 1 = hole) -> (coarse, refined),
  both (B, H, W, C) float32 in [-1, 1], raw (composite() pastes them into the image)."""
  channels: int = 3
  width: int = 48              # cnum
  dtype: Any = jnp.float32
  conv_impl: str = "auto"      # layers.torch_conv2d's: matmul kernel gradients on CPU

  # The registry's generators expose latent_dim; an image-conditioned G has no z.
  latent_dim = 0

  @nn.compact
  def __call__(self, image: jax.Array, mask: jax.Array, train: bool = True):
    del train  # no batch statistics or dropout
    layers.resolve_conv_impl(self.conv_impl)  # validates the name
    check_inputs(image, mask, self.channels)
    if self.width % 4:
      raise ValueError(f"DeepFill's width (cnum) must be a multiple of 4, got {self.width}")
    image, mask = image.astype(jnp.float32), mask.astype(jnp.float32)
    incomplete = image * (1.0 - mask)
    ones = jnp.ones_like(mask)
    x = jnp.concatenate([incomplete, ones, ones * mask], axis=-1)
    coarse = CoarseNet(self.width, self.dtype, self.conv_impl, self.channels, name="stage1")(x)
    x = coarse * mask + incomplete * (1.0 - mask)
    refined = RefineNet(self.width, self.dtype, self.conv_impl, self.channels, name="stage2")(
        x.astype(self.dtype), mask)
    return coarse, refined


# --- Discriminator -----------------------------------------------------------------------------


def _torch_bias_init(fan_in: int):
  bound = 1.0 / fan_in ** 0.5
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                  bound)


class SNConv5x5(nn.Module):
  """5x5 stride-2 padding-2 conv with bias and spectral norm as torch.nn.utils.spectral_norm
  (layers.torch_spectral_normalize: u and v in batch_stats), torch's default init."""
  features: int
  dtype: Any = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, update_stats: bool) -> jax.Array:
    fan_in = 25 * x.shape[-1]
    kernel = self.param("kernel", _torch_conv_init(1.0 / 3.0, "fan_in"),
                        (5, 5, x.shape[-1], self.features))
    bias = self.param("bias", _torch_bias_init(fan_in), (self.features,))
    kernel = layers.torch_spectral_normalize(self, kernel, update_stats)
    y = layers.torch_conv2d(x.astype(self.dtype), kernel.astype(self.dtype), 2, 2,
                            self.conv_impl)
    return nn.leaky_relu(y + bias.astype(self.dtype), 0.2)


class SNPatchDiscriminator(nn.Module):
  """[image, mask] (B, H, W, channels + 1) -> patch logits (B, 4w * ceil(H/64) * ceil(W/64)),
  float32, flattened in (C, H, W) order as the reference's nn.Flatten of NCHW maps.

  `train=True` runs one power iteration per call and stores it (apply with
  mutable=["batch_stats"]); eval uses the stored vectors.
  """
  channels: int = 3            # image channels; the mask is one more
  width: int = 64
  dtype: Any = jnp.float32
  conv_impl: str = "auto"      # layers.torch_conv2d's

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    layers.resolve_conv_impl(self.conv_impl)
    if x.ndim != 4 or x.shape[-1] != self.channels + 1:
      raise ValueError(f"SNPatchDiscriminator expects (B, H, W, {self.channels + 1}) "
                       f"[image, mask] inputs, got {x.shape}")
    w = self.width
    for i, f in enumerate((w, 2 * w, 4 * w, 4 * w, 4 * w, 4 * w), start=1):
      x = SNConv5x5(f, self.dtype, self.conv_impl, name=f"conv{i}")(x, update_stats=train)
    x = x.astype(jnp.float32).transpose(0, 3, 1, 2)
    return x.reshape(x.shape[0], -1)
