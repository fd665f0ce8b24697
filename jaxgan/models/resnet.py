"""The ResNet generator and discriminator of SNGAN for 32x32 images (Miyato et al. 2018,
Table 4 / appendix B.4: CIFAR-10), with optional class conditioning:

- projection (Miyato & Koyama 2018): conditional BatchNorm in G (a per-class scale and
  shift), and D's logit plus the inner product of a class embedding with D's features;
- AC-GAN (Odena et al. 2017): G as above, D also outputs class logits.

G: z (128) -> dense 4x4x256 -> 3 up-blocks of 256 -> BN, ReLU, conv3x3 -> tanh (32x32).
D: an "optimised" down-block of 128, a down-block, two blocks without resampling, ReLU,
global sum pooling, dense -> 1; spectral norm on every layer when `spectral`.
Other power-of-two sizes add or drop resampling blocks (tests use 16x16 and narrow widths).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError
from jaxgan.models import layers


def num_resamplings(image_size: int) -> int:
  """Up-blocks of G (4x4 -> image) = down-blocks of D (image -> 8x8) + 1."""
  if not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
    raise UsageError(f"the ResNet GAN cannot build image_size={image_size!r}: it must be a "
                     "power of two >= 8")
  return image_size.bit_length() - 3


def _upsample(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2x: (B, H, W, C) -> (B, 2H, 2W, C)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (2, 2), (2, 2))


class CondBatchNorm(nn.Module):
  """BatchNorm whose scale and shift are per class when `num_classes` > 0 (de Vries et al.
  2017; SNGAN's conditional G); plain learned scale and shift otherwise."""
  num_classes: int = 0
  axis_name: str | None = None
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None, train: bool) -> jax.Array:
    c = x.shape[-1]
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     use_scale=not self.num_classes, use_bias=not self.num_classes,
                     axis_name=self.axis_name, dtype=self.dtype, name="bn")(x)
    if not self.num_classes:
      return x
    gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones, name="gamma")(labels)
    beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(labels)
    return (x * gamma[:, None, None, :] + beta[:, None, None, :]).astype(self.dtype)


class GBlock(nn.Module):
  """BN-ReLU-up-conv3-BN-ReLU-conv3, plus an up-conv1 shortcut."""
  features: int
  num_classes: int = 0
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, labels, train: bool):
    bn = lambda name: CondBatchNorm(self.num_classes, self.bn_axis_name, self.dtype, name=name)
    conv = lambda k, name: layers.SNConv(self.features, k, dtype=self.dtype,
                                         impl=self.conv_impl, name=name)
    h = nn.relu(bn("bn0")(x, labels, train))
    h = conv(3, "conv0")(_upsample(h))
    h = nn.relu(bn("bn1")(h, labels, train))
    h = conv(3, "conv1")(h)
    return h + conv(1, "shortcut")(_upsample(x))


class DBlock(nn.Module):
  """ReLU-conv3-ReLU-conv3[-pool], plus a conv1[-pool] shortcut; `first` is SNGAN's
  optimised first block (no leading ReLU, pool before the shortcut's conv)."""
  features: int
  down: bool = True
  first: bool = False
  spectral: bool = True
  dtype: Any = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, update_stats: bool):
    conv = lambda f, k, name: layers.SNConv(f, k, spectral=self.spectral, dtype=self.dtype,
                                            impl=self.conv_impl, name=name)
    h = x if self.first else nn.relu(x)
    h = conv(self.features, 3, "conv0")(h, update_stats)
    h = conv(self.features, 3, "conv1")(nn.relu(h), update_stats)
    if self.down:
      h = _avg_pool(h)
    s = x
    if self.first:
      s = conv(self.features, 1, "shortcut")(_avg_pool(s) if self.down else s, update_stats)
    elif self.down or x.shape[-1] != self.features:
      s = conv(self.features, 1, "shortcut")(s, update_stats)
      s = _avg_pool(s) if self.down else s
    return h + s


class Generator(nn.Module):
  """z (B, latent_dim)[, labels (B,)] -> images (B, H, W, C) in [-1, 1]."""
  image_size: int = 32
  channels: int = 3
  latent_dim: int = 128
  width: int = 256             # channels of every block
  num_classes: int = 0         # > 0: conditional BatchNorm on labels
  bn_axis_name: str | None = None
  dtype: Any = jnp.float32
  conv_impl: str = "auto"      # layers.CONV_IMPLS

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = True):
    if self.num_classes and labels is None:
      raise ValueError("a conditional generator needs labels")
    x = layers.SNDense(4 * 4 * self.width, dtype=self.dtype, name="fc")(z)
    x = x.reshape(-1, 4, 4, self.width)                                   # (B, 4, 4, C)
    for i in range(num_resamplings(self.image_size)):
      x = GBlock(self.width, self.num_classes, self.bn_axis_name, self.dtype, self.conv_impl,
                 name=f"block{i}")(x, labels, train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     axis_name=self.bn_axis_name, dtype=self.dtype, name="bn_out")(x)
    x = layers.SNConv(self.channels, 3, dtype=self.dtype, impl=self.conv_impl,
                      name="conv_out")(nn.relu(x))
    return jnp.tanh(x.astype(jnp.float32))                                # (B, H, W, C)


class Discriminator(nn.Module):
  """images (B, H, W, C)[, labels (B,)] -> logits (B,), or (logits, class logits (B, K))
  with conditioning="acgan"."""
  image_size: int = 32
  channels: int = 3
  width: int = 128
  spectral: bool = True
  num_classes: int = 0
  conditioning: str = "projection"  # or "acgan" (used when num_classes > 0)
  dtype: Any = jnp.float32
  conv_impl: str = "auto"      # layers.CONV_IMPLS

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = True):
    if x.shape[1:] != (self.image_size, self.image_size, self.channels):
      raise ValueError(f"Discriminator expects (B, {self.image_size}, {self.image_size}, "
                       f"{self.channels}) images, got {x.shape}")
    n_down = num_resamplings(self.image_size) - 1
    h = x
    for i in range(n_down + 2):
      h = DBlock(self.width, down=i < n_down, first=i == 0, spectral=self.spectral,
                 dtype=self.dtype, conv_impl=self.conv_impl, name=f"block{i}")(h, train)
    # The head in float32: a sum over all positions, then logits the losses read in f32.
    h = jnp.sum(nn.relu(h).astype(jnp.float32), axis=(1, 2))               # (B, C)
    logits = layers.SNDense(1, spectral=self.spectral, name="logit")(h, train)[:, 0]
    if not self.num_classes:
      return logits
    if self.conditioning == "acgan":
      return logits, layers.SNDense(self.num_classes, spectral=self.spectral,
                                    name="classifier")(h, train)
    embed = layers.SNEmbed(self.num_classes, h.shape[-1], spectral=self.spectral,
                           name="embed")(labels, train)                    # (B, C)
    return logits + jnp.sum(embed * h, axis=1)
