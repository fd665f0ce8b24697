"""DCGAN (Radford et al. 2016) exactly as the PyTorch DCGAN tutorial builds it.

At 64x64x3 with nz=100 and ngf=ndf=64: 3,576,704 parameters in G, 2,765,568 in D.
Other power-of-two resolutions add or drop one stride-2 stage per factor of two;
the channel width doubles per stage away from the image, as in the tutorial.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError
from jaxgan.models import layers

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 1024


def num_stages(image_size: int) -> int:
  """Stride-2 stages between the 4x4 bottleneck and the image (4 at 64x64)."""
  if (not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE
      or image_size > MAX_IMAGE_SIZE or image_size & (image_size - 1)):
    raise UsageError(f"DCGAN cannot build image_size={image_size!r}: it must be a power of two "
                     f"from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}")
  return image_size.bit_length() - 3


def _normalise(module, x: jax.Array, train: bool, name: str) -> jax.Array:
  if module.norm == "none":
    return x
  if module.norm != "batch":
    raise UsageError(f"unknown norm {module.norm!r}; valid: batch, none")
  # The CPU formulations (conv_impl "rearranged", the default on CPU) include BatchNorm's
  # closed-form backward; accelerators keep Flax's.
  fused = layers.resolve_conv_impl(module.conv_impl) == "rearranged"
  return layers.torch_batch_norm(train, name=name, dtype=module.dtype,
                                 axis_name=module.bn_axis_name,
                                 scale_init=layers.dcgan_bn_scale_init, fused_backward=fused)(x)


class Generator(nn.Module):
  """z (B, latent_dim) -> image (B, H, W, C) in [-1, 1]."""
  image_size: int = 64         # output resolution, a power of two
  channels: int = 3            # 3 for RGB, 1 for greyscale
  latent_dim: int = 100        # nz
  width: int = 64              # ngf: channels of the last hidden stage
  dtype: Any = jnp.float32     # compute dtype; parameters stay float32
  bn_axis_name: str | None = None  # set under pmap to synchronise BatchNorm statistics
  conv_impl: str = "auto"      # "lax", or "rearranged" (CPU formulations); see layers.py
  norm: str = "batch"          # "batch" (DCGAN) or "none" (e.g. for per-example penalties)

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    n = num_stages(self.image_size)
    features = self.width * 2 ** (n - 1)
    x = z.reshape(z.shape[0], 1, 1, z.shape[-1])                       # (B, 1, 1, nz)
    x = layers.ConvTranspose2d(features, 4, 1, 0, dtype=self.dtype, impl=self.conv_impl,
                               name="up0")(x)                          # (B, 4, 4, C)
    for i in range(n):
      x = _normalise(self, x, train, f"bn{i}")
      x = nn.relu(x)
      out = self.channels if i == n - 1 else features // 2
      x = layers.ConvTranspose2d(out, 4, 2, 1, dtype=self.dtype, impl=self.conv_impl,
                                 name=f"up{i + 1}")(x)
      features //= 2
    return jnp.tanh(x.astype(jnp.float32))                             # (B, H, W, C)


class Discriminator(nn.Module):
  """image (B, H, W, C) -> logits (B,). The sigmoid lives in the loss."""
  image_size: int = 64
  channels: int = 3
  width: int = 64              # ndf: channels of the first stage
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"
  norm: str = "batch"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    n = num_stages(self.image_size)
    if x.shape[1:] != (self.image_size, self.image_size, self.channels):
      raise ValueError(f"Discriminator expects (B, {self.image_size}, {self.image_size}, "
                       f"{self.channels}) images, got {x.shape}")
    features = self.width
    x = layers.Conv2d(features, 4, 2, 1, dtype=self.dtype, impl=self.conv_impl, name="down0")(x)
    x = nn.leaky_relu(x, 0.2)
    for i in range(1, n):
      features *= 2
      x = layers.Conv2d(features, 4, 2, 1, dtype=self.dtype, impl=self.conv_impl,
                        name=f"down{i}")(x)
      x = _normalise(self, x, train, f"bn{i}")
      x = nn.leaky_relu(x, 0.2)
    x = layers.Conv2d(1, 4, 1, 0, dtype=self.dtype, impl=self.conv_impl, name="logit")(x)  # (B, 1, 1, 1)
    return x.reshape(x.shape[0]).astype(jnp.float32)
