"""Super-resolution GANs: SRGAN (Ledig et al. 2017) and ESRGAN (Wang et al. 2018).

Images are in [-1, 1] on both sides of every network here, as everywhere in jaxgan; what
each network does with that range follows its reference:

- SRResNet, SRGAN's generator (the paper's Fig. 4): the paper scales LR inputs to [0, 1]
  and HR images to [-1, 1], so the network maps its [-1, 1] input to [0, 1] first and ends
  in tanh. 9x9 conv (width) + PReLU; num_blocks residual blocks (3x3 conv, BatchNorm,
  PReLU, 3x3 conv, BatchNorm, + skip); 3x3 conv + BatchNorm + the long skip from the first
  PReLU; log2(scale) x2 upsampling blocks (3x3 conv to 4 width, pixel shuffle, PReLU); 9x9
  conv to channels; tanh. Convs followed by BatchNorm have no bias (its shift does that
  job); PReLUs have one slope each (torch.nn.PReLU()). 1,547,350 parameters at x4, 3
  channels, width 64, 16 blocks.
- SRGANDiscriminator (the paper's Fig. 4): 3x3 conv 64 + leaky ReLU(0.2); seven 3x3
  conv + BatchNorm + leaky ReLU blocks (64 s2, 128, 128 s2, 256, 256 s2, 512, 512 s2);
  dense 1024, leaky ReLU, dense 1. Returns logits (the paper's sigmoid is in the loss).
  The dense layer fixes the input size (96 in the paper): 23,563,649 parameters there.
- RRDBNet, ESRGAN's generator, as BasicSR's basicsr/archs/rrdbnet_arch.py (the authors'
  code), module for module (conv_first, body_<n>/rdb<k>/conv<m>, conv_body, conv_up1,
  conv_up2, conv_hr, conv_last), so the released RRDB_ESRGAN_x4.pth maps onto it
  (jaxgan/models/torch_import.py). BasicSR works on [0, 1] images with no output
  activation: the network maps its input x to (x + 1) / 2, runs BasicSR's function, and
  returns 2 y - 1 (no tanh, no clipping, as theirs), so released weights see the images
  they were trained on. 16,697,987 parameters at x4 (num_feat 64, 23 blocks, growth 32).
- VGGStyleDiscriminator, BasicSR's (basicsr/archs/discriminator_arch.py): maps its input
  to [0, 1] as RRDBNet does; conv0_0 .. conv4_1 (3x3 s1 / 4x4 s2) with BatchNorm after all
  but the first, leaky ReLU(0.2), linear1 (100), linear2 (1). Input 128 (or 256: conv5_*).
  14,499,401 parameters at 128, num_feat 64.

Flatten-then-dense layers read the features in PyTorch's (C, H, W) order, so linear
weights import as plain transposes. BatchNorm is PyTorch's BatchNorm2d (layers.
torch_batch_norm). Initialisation follows the references: PyTorch's defaults, and for
the RRDB convs BasicSR's default_init_weights (kaiming_normal scaled by 0.1, biases 0).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers

SCALES = (2, 4)             # SRResNet: x2 upsampling blocks
RRDB_SCALES = (1, 2, 4)     # BasicSR's RRDBNet: pixel-unshuffles the input below x4
SRGAN_D_LAYERS = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2))

# BasicSR's default_init_weights(scale=0.1) for the RRDB convs: kaiming_normal_ (fan_in,
# gain sqrt(2), untruncated) times 0.1, i.e. variance 2 / fan_in * 0.01.
rrdb_kernel_init = nn.initializers.variance_scaling(2.0 * 0.1 ** 2, "fan_in",
                                                    "normal")  # JAX: untruncated


def _to_unit(x: jax.Array) -> jax.Array:
  return x * 0.5 + 0.5


def _check_image(name: str, x: jax.Array, channels: int, size: int | None = None) -> None:
  if x.ndim != 4 or x.shape[-1] != channels:
    raise ValueError(f"{name} expects (B, H, W, {channels}) images, got shape {x.shape}")
  if size is not None and x.shape[1:3] != (size, size):
    raise ValueError(f"{name} expects {size}x{size} images (its dense layer fixes the size), "
                     f"got shape {x.shape}")


def _bn(module, train: bool, name: str) -> nn.Module:
  fused = layers.resolve_conv_impl(module.conv_impl) == "rearranged"
  return layers.torch_batch_norm(train, name=name, dtype=module.dtype,
                                 axis_name=module.bn_axis_name, fused_backward=fused)


def _conv(module, features: int, k: int, stride: int = 1, *, bias: bool = True,
          name: str, **kw) -> nn.Module:
  return layers.BiasedConv2d(features, k, stride, k // 2 if k % 2 else 1, dtype=module.dtype,
                             impl=module.conv_impl, use_bias=bias, name=name, **kw)


def _torch_dense(features: int, fan_in: int, name: str, dtype) -> nn.Module:
  return nn.Dense(features, dtype=dtype, kernel_init=layers.torch_default_kernel_init,
                  bias_init=layers.torch_default_bias_init(fan_in), name=name)


def _flatten_chw(h: jax.Array) -> jax.Array:
  """(B, H, W, C) -> (B, C H W) in PyTorch's NCHW flatten order."""
  return h.transpose(0, 3, 1, 2).reshape(h.shape[0], -1)


# --- SRGAN ----------------------------------------------------------------------------------


class SRResidualBlock(nn.Module):
  width: int
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    h = _conv(self, self.width, 3, bias=False, name="conv1")(x)
    h = layers.PReLU(name="prelu")(_bn(self, train, "bn1")(h))
    h = _conv(self, self.width, 3, bias=False, name="conv2")(h)
    return x + _bn(self, train, "bn2")(h)


class SRResNet(nn.Module):
  """SRGAN's generator: LR (B, h, w, C) in [-1, 1] -> HR (B, h s, w s, C) in [-1, 1] (tanh)."""
  scale: int = 4
  channels: int = 3
  width: int = 64
  num_blocks: int = 16
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  latent_dim = 0  # image-conditioned: no z

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    if self.scale not in SCALES:
      raise ValueError(f"SRResNet scale must be one of {SCALES}, got {self.scale!r}")
    _check_image("SRResNet", x, self.channels)
    kw = dict(dtype=self.dtype, bn_axis_name=self.bn_axis_name, conv_impl=self.conv_impl)
    x = _to_unit(x.astype(jnp.float32))  # the paper's LR range
    skip = layers.PReLU(name="prelu_in")(_conv(self, self.width, 9, name="conv_in")(x))
    h = skip
    for i in range(self.num_blocks):
      h = SRResidualBlock(self.width, name=f"block{i}", **kw)(h, train)
    h = _conv(self, self.width, 3, bias=False, name="conv_mid")(h)
    h = _bn(self, train, "bn_mid")(h) + skip
    for i in range(self.scale.bit_length() - 1):
      h = _conv(self, 4 * self.width, 3, name=f"up{i}_conv")(h)
      h = layers.PReLU(name=f"up{i}_prelu")(layers.pixel_shuffle(h, 2))
    h = _conv(self, self.channels, 9, name="conv_out")(h)
    return jnp.tanh(h.astype(jnp.float32))


class SRGANDiscriminator(nn.Module):
  """HR images (B, image_size, image_size, C) in [-1, 1] -> logits (B,)."""
  image_size: int = 96
  channels: int = 3
  width: int = 64              # the first conv's; SRGAN_D_LAYERS scale with width / 64
  dense_width: int = 1024
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    _check_image("SRGANDiscriminator", x, self.channels, self.image_size)
    h = nn.leaky_relu(_conv(self, self.width, 3, name="conv0")(x), 0.2)
    for i, (f, s) in enumerate(SRGAN_D_LAYERS, start=1):
      h = _conv(self, f * self.width // 64, 3, s, bias=False, name=f"conv{i}")(h)
      h = nn.leaky_relu(_bn(self, train, f"bn{i}")(h), 0.2)
    h = _flatten_chw(h)
    h = nn.leaky_relu(_torch_dense(self.dense_width, h.shape[-1], "dense1", self.dtype)(h), 0.2)
    h = _torch_dense(1, self.dense_width, "dense2", self.dtype)(h)
    return h[:, 0].astype(jnp.float32)


# --- ESRGAN (BasicSR) -----------------------------------------------------------------------


class ResidualDenseBlock(nn.Module):
  """Five densely connected 3x3 convs (growth num_grow_ch), leaky ReLU(0.2), x + 0.2 x5."""
  num_feat: int = 64
  num_grow_ch: int = 32
  dtype: Any = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    feats = [x]
    for m in range(1, 6):
      f = self.num_feat if m == 5 else self.num_grow_ch
      y = _conv(self, f, 3, name=f"conv{m}", kernel_init=rrdb_kernel_init,
                bias_init=nn.initializers.zeros)(jnp.concatenate(feats, axis=-1))
      if m == 5:
        return y * 0.2 + x
      feats.append(nn.leaky_relu(y, 0.2))


class RRDB(nn.Module):
  num_feat: int = 64
  num_grow_ch: int = 32
  dtype: Any = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = x
    for k in range(1, 4):
      h = ResidualDenseBlock(self.num_feat, self.num_grow_ch, self.dtype, self.conv_impl,
                             name=f"rdb{k}")(h)
    return h * 0.2 + x


class RRDBNet(nn.Module):
  """ESRGAN's generator: LR (B, h, w, C) in [-1, 1] -> HR (B, h s, w s, C), [-1, 1] for
  the images it was trained on (no tanh: BasicSR's linear output, mapped from [0, 1])."""
  scale: int = 4
  channels: int = 3            # in and out, as BasicSR's num_in_ch = num_out_ch
  num_feat: int = 64
  num_block: int = 23
  num_grow_ch: int = 32
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None  # unused (no BatchNorm): the registry passes it to every G
  conv_impl: str = "auto"

  latent_dim = 0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # no BatchNorm, no dropout
    if self.scale not in RRDB_SCALES:
      raise ValueError(f"RRDBNet scale must be one of {RRDB_SCALES}, got {self.scale!r}")
    _check_image("RRDBNet", x, self.channels)
    feat = _to_unit(x.astype(jnp.float32))
    if self.scale < 4:  # BasicSR: x2 and x1 run the x4 trunk on a pixel-unshuffled input
      feat = layers.pixel_unshuffle(feat, 4 // self.scale)
    conv = lambda name, f=self.num_feat: _conv(self, f, 3, name=name)
    feat = conv("conv_first")(feat)
    body = feat
    for n in range(self.num_block):
      body = RRDB(self.num_feat, self.num_grow_ch, self.dtype, self.conv_impl,
                  name=f"body_{n}")(body)
    feat = feat + conv("conv_body")(body)
    lrelu = lambda t: nn.leaky_relu(t, 0.2)
    feat = lrelu(conv("conv_up1")(layers.upsample_nearest(feat)))
    feat = lrelu(conv("conv_up2")(layers.upsample_nearest(feat)))
    out = conv("conv_last", self.channels)(lrelu(conv("conv_hr")(feat)))
    return out.astype(jnp.float32) * 2.0 - 1.0


class VGGStyleDiscriminator(nn.Module):
  """BasicSR's VGGStyleDiscriminator: HR images (B, 128 or 256, ., C) in [-1, 1] ->
  logits (B,)."""
  image_size: int = 128        # BasicSR's input_size
  channels: int = 3
  num_feat: int = 64
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    if self.image_size not in (128, 256):
      raise ValueError(f"VGGStyleDiscriminator image_size must be 128 or 256, got "
                       f"{self.image_size!r}")
    _check_image("VGGStyleDiscriminator", x, self.channels, self.image_size)
    lrelu = lambda t: nn.leaky_relu(t, 0.2)
    h = lrelu(_conv(self, self.num_feat, 3, name="conv0_0")(_to_unit(x.astype(jnp.float32))))
    levels = 6 if self.image_size == 256 else 5
    for lv in range(levels):
      for j in (0, 1):
        if lv == 0 and j == 0:
          continue
        f = self.num_feat * min(2 ** lv, 8)
        h = _conv(self, f, 3 if j == 0 else 4, 1 + j, bias=False, name=f"conv{lv}_{j}")(h)
        h = lrelu(_bn(self, train, f"bn{lv}_{j}")(h))
    h = _flatten_chw(h)
    h = lrelu(_torch_dense(100, h.shape[-1], "linear1", self.dtype)(h))
    h = _torch_dense(1, 100, "linear2", self.dtype)(h)
    return h[:, 0].astype(jnp.float32)
