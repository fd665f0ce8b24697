"""CycleGAN (Zhu et al. 2017): two ResNet generators and two PatchGAN discriminators.

The networks of the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
`resnet_9blocks` G and `basic` D, InstanceNorm without affine parameters, every conv
biased; with BatchNorm only the last), layer for layer:

- G: reflection-pad 3 + 7x7 conv (w), two 3x3 stride-2 convs (2w, 4w), `num_blocks`
  residual blocks of [reflection-pad 1, 3x3 conv, norm, ReLU, (dropout), reflection-pad 1,
  3x3 conv, norm] + identity, two 3x3 stride-2 transposed convs with output_padding 1
  (2w, w), reflection-pad 3 + 7x7 conv to the image, tanh; norm + ReLU after every conv but
  the last. 11,378,179 parameters at w=64, 9 blocks, 3 -> 3 channels.
- D: pix2pix's 70x70 PatchGAN (pix2pix.PatchDiscriminator) on one image.

`CycleGenerators` holds G_A (A -> B) and G_B (B -> A) and `CycleDiscriminators` D_A
(judges domain B) and D_B (judges domain A), as the authors name them; each pair is one
Flax module, so each is one NetState with one optimizer, as the authors' one Adam over
both generators' parameters and one over both discriminators'.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, pix2pix
from jaxgan.models.pix2pix import add_bias, check_norm, normalise


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
  """torch.nn.ReflectionPad2d(p) of NHWC x."""
  return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


class ResnetGenerator(nn.Module):
  """image (B, H, W, C_in) -> image (B, H, W, channels) in [-1, 1]; H, W multiples of 4."""
  channels: int = 3
  width: int = 64              # ngf
  num_blocks: int = 9          # 9 at 256x256, 6 at 128x128 (the authors' choices)
  norm: str = "instance"
  dropout: float = 0.0         # inside each residual block (off in the authors' default)
  dtype: Any = jnp.float32
  bn_axis_name: str | None = None
  conv_impl: str = "auto"

  def _conv(self, h, features, k, s, p, name, train):
    h = layers.Conv2d(features, k, s, p, dtype=self.dtype, impl=self.conv_impl, name=name)(h)
    if self.norm != "batch":  # the authors' use_bias: BatchNorm's shift replaces the bias
      h = add_bias(self, h, f"{name}_bias")
    return normalise(self, h, train, f"{name}_norm")

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    check_norm(self.norm)
    if x.shape[1] % 4 or x.shape[2] % 4:
      raise ValueError(f"ResnetGenerator needs sides that are multiples of 4, got {x.shape}")
    w = self.width
    h = nn.relu(self._conv(reflect_pad(x, 3), w, 7, 1, 0, "stem", train))
    for i in range(2):
      h = nn.relu(self._conv(h, w * 2 ** (i + 1), 3, 2, 1, f"down{i}", train))
    for b in range(self.num_blocks):
      r = nn.relu(self._conv(reflect_pad(h, 1), 4 * w, 3, 1, 0, f"block{b}_conv0", train))
      if self.dropout > 0:
        r = nn.Dropout(self.dropout, deterministic=not train)(r)
      h = h + self._conv(reflect_pad(r, 1), 4 * w, 3, 1, 0, f"block{b}_conv1", train)
    for i in range(2):
      h = layers.ConvTranspose2d(w * 2 ** (1 - i), 3, 2, 1, output_padding=1, dtype=self.dtype,
                                 impl=self.conv_impl, name=f"up{i}")(h)
      if self.norm != "batch":
        h = add_bias(self, h, f"up{i}_bias")
      h = nn.relu(normalise(self, h, train, f"up{i}_norm"))
    h = layers.Conv2d(self.channels, 7, 1, 0, dtype=self.dtype, impl=self.conv_impl,
                      name="head")(reflect_pad(h, 3))
    return jnp.tanh(add_bias(self, h, "head_bias").astype(jnp.float32))


class CycleGenerators(nn.Module):
  """G_A: A -> B and G_B: B -> A. Call a_to_b / b_to_a; __call__(a, b) runs both (init)."""
  g_a: nn.Module
  g_b: nn.Module

  latent_dim = 0  # the registry's generators expose it; these have no z

  def a_to_b(self, x: jax.Array, train: bool = True) -> jax.Array:
    return self.g_a(x, train=train)

  def b_to_a(self, x: jax.Array, train: bool = True) -> jax.Array:
    return self.g_b(x, train=train)

  def __call__(self, a: jax.Array, b: jax.Array, train: bool = True):
    return self.g_a(a, train=train), self.g_b(b, train=train)


class CycleDiscriminators(nn.Module):
  """D_A judges domain-B images (G_A's outputs), D_B domain-A images; logits (B, P).
  __call__(b, a) runs both (init)."""
  d_a: nn.Module
  d_b: nn.Module

  def judge_b(self, x: jax.Array, train: bool = True) -> jax.Array:
    return self.d_a(x, train=train)

  def judge_a(self, x: jax.Array, train: bool = True) -> jax.Array:
    return self.d_b(x, train=train)

  def __call__(self, b: jax.Array, a: jax.Array, train: bool = True):
    return self.d_a(b, train=train), self.d_b(a, train=train)


def build(*, channels_a: int, channels_b: int, width_g: int, width_d: int, num_blocks: int,
          norm: str, d_layers: int, dropout: float, dtype, bn_axis_name, conv_impl):
  """(CycleGenerators, CycleDiscriminators) for domain A images of `channels_a` and domain
  B images of `channels_b`."""
  g = lambda c: ResnetGenerator(channels=c, width=width_g, num_blocks=num_blocks, norm=norm,
                                dropout=dropout, dtype=dtype, bn_axis_name=bn_axis_name,
                                conv_impl=conv_impl)
  d = lambda c: pix2pix.PatchDiscriminator(channels=c, width=width_d, num_layers=d_layers,
                                           norm=norm, dtype=dtype, bn_axis_name=bn_axis_name,
                                           conv_impl=conv_impl)
  return (CycleGenerators(g_a=g(channels_b), g_b=g(channels_a)),
          CycleDiscriminators(d_a=d(channels_b), d_b=d(channels_a)))
