"""pix2pix (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator.

The networks of the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
`unet_256` and `basic` D), layer for layer, so its weights map onto ours
(jaxgan/models/torch_import.py) and tests/test_pix2pix.py compares the two:

- G: an encoder of num_downs = log2(image_size) stride-2 4x4 convs (widths w, 2w, 4w,
  8w, 8w, ...), each after a leaky ReLU(0.2) and before a norm (not the first, not the
  innermost); a decoder of stride-2 4x4 transposed convs, each after a ReLU and before a
  norm, whose input at every level is the encoder's map of that level concatenated with
  the decoder's output below (skip first, as torch.cat([x, block(x)], 1)); dropout 0.5
  after the norm of the 8w levels between the fourth and the innermost (three at 256);
  tanh at the end. At 256x256x3 with w=64: 54,413,955 parameters.
- D: the 70x70 PatchGAN: 4x4 convs w (stride 2), 2w, 4w (stride 2), 8w (stride 1), 1
  (stride 1), leaky ReLU(0.2), norms after all but the first and last; it judges the
  input and the output concatenated along channels and returns one logit per patch
  (30x30 at 256). 2,768,705 parameters at 6 input channels, w=64.

With BatchNorm (pix2pix) convs before a norm have no bias; with InstanceNorm (CycleGAN)
every conv has one, as in the reference. Initialisation: conv weights ~ N(0, 0.02),
BatchNorm scales ~ N(1, 0.02), biases 0.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError
from jaxgan.models import layers

NORMS = ("batch", "instance", "none")
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024


def num_downs(image_size: int) -> int:
  """Stride-2 levels of the U-Net: the innermost map is 1x1 (8 at 256)."""
  if (not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE
      or image_size > MAX_IMAGE_SIZE or image_size & (image_size - 1)):
    raise UsageError(f"pix2pix cannot build image_size={image_size!r}: it must be a power of "
                     f"two from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}")
  return image_size.bit_length() - 1


def check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise UsageError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


def normalise(module, x: jax.Array, train: bool, name: str) -> jax.Array:
  """module.norm of x: BatchNorm as PyTorch's (variables), InstanceNorm without affine
  parameters (the authors' CycleGAN default), or nothing."""
  if module.norm == "batch":
    fused = layers.resolve_conv_impl(module.conv_impl) == "rearranged"
    return layers.torch_batch_norm(train, name=name, dtype=module.dtype,
                                   axis_name=module.bn_axis_name,
                                   scale_init=layers.dcgan_bn_scale_init,
                                   fused_backward=fused)(x)
  if module.norm == "instance":  # torch.nn.InstanceNorm2d(affine=False): no variables
    return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False,
                           use_fast_variance=False, dtype=module.dtype, name=name)(x)
  return x


def add_bias(module, x: jax.Array, name: str) -> jax.Array:
  b = module.param(name, nn.initializers.zeros, (x.shape[-1],))
  return x + b.astype(x.dtype)


class UNetGenerator(nn.Module):
  """input image (B, H, W, in) -> image (B, H, W, channels) in [-1, 1]."""
  image_size: int = 256
  channels: int = 3            # output channels
  width: int = 64              # ngf
  norm: str = "batch"          # NORMS
  dropout: float = 0.5         # after the norm of the inner 8w decoder levels
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  # The registry's generators expose latent_dim; an image-conditioned G has no z.
  latent_dim = 0

  def _widths(self, n: int) -> list[int]:
    return [self.width * min(2 ** i, 8) for i in range(n)]

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    check_norm(self.norm)
    n = num_downs(self.image_size)
    if x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"UNetGenerator expects (B, {self.image_size}, {self.image_size}, C) "
                       f"inputs, got {x.shape}")
    widths = self._widths(n)
    has_bias = self.norm != "batch"
    conv = lambda f, name: layers.Conv2d(f, 4, 2, 1, dtype=self.dtype, impl=self.conv_impl,
                                         name=name)
    up = lambda f, name: layers.ConvTranspose2d(f, 4, 2, 1, dtype=self.dtype,
                                                impl=self.conv_impl, name=name)
    skips = []
    h = x
    for i in range(n):                      # encoder; skips[i] is level i's map
      if i > 0:
        h = nn.leaky_relu(h, 0.2)
      h = conv(widths[i], f"down{i}")(h)
      if has_bias:
        h = add_bias(self, h, f"down{i}_bias")
      if 0 < i < n - 1:
        h = normalise(self, h, train, f"down{i}_norm")
      skips.append(h)
    for i in range(n - 1, 0, -1):           # decoder, innermost first
      h = up(widths[i - 1], f"up{i}")(nn.relu(h))
      if has_bias:
        h = add_bias(self, h, f"up{i}_bias")
      h = normalise(self, h, train, f"up{i}_norm")
      if 4 <= i < n - 1 and self.dropout > 0:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    h = up(self.channels, "up0")(nn.relu(h))
    h = add_bias(self, h, "up0_bias")
    return jnp.tanh(h.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
  """(input, image) pair concatenated along channels (B, H, W, C) -> logits (B, P).

  P = the patches: 30 x 30 at 256 with num_layers=3 (each sees 70x70 pixels).
  """
  channels: int = 6            # input channels + output channels
  width: int = 64              # ndf
  num_layers: int = 3          # stride-2 layers after the first (70x70 patches at 3)
  norm: str = "batch"
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    check_norm(self.norm)
    if x.shape[-1] != self.channels:
      raise ValueError(f"PatchDiscriminator expects {self.channels} channels, got {x.shape}")
    has_bias = self.norm != "batch"
    h = layers.Conv2d(self.width, 4, 2, 1, dtype=self.dtype, impl=self.conv_impl,
                      name="conv0")(x)
    h = nn.leaky_relu(add_bias(self, h, "conv0_bias"), 0.2)
    for i in range(1, self.num_layers + 1):
      stride = 2 if i < self.num_layers else 1
      h = layers.Conv2d(self.width * min(2 ** i, 8), 4, stride, 1, dtype=self.dtype,
                        impl=self.conv_impl, name=f"conv{i}")(h)
      if has_bias:
        h = add_bias(self, h, f"conv{i}_bias")
      h = nn.leaky_relu(normalise(self, h, train, f"norm{i}"), 0.2)
    h = layers.Conv2d(1, 4, 1, 1, dtype=self.dtype, impl=self.conv_impl,
                      name=f"conv{self.num_layers + 1}")(h)
    h = add_bias(self, h, f"conv{self.num_layers + 1}_bias")
    return h.reshape(h.shape[0], -1).astype(jnp.float32)
