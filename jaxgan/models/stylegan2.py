"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
config F as in NVIDIA's stylegan2-ada-pytorch: mapping network, skip-architecture synthesis
with modulated/demodulated convolutions and per-pixel noise, ResNet discriminator with
minibatch stddev. NHWC; parameters float32, compute in `dtype`.

Randomness comes in as arrays, never from Flax rng streams, so the train step can draw it
for the global batch (device-count independent): `noise_keys` (B, 2) per-example keys for the
per-pixel noise (None: no noise, as in eval-mode sampling), `mix_z` (B, latent_dim) and
`mix_cutoff` (B,) for style mixing (layers >= cutoff take mix_z's w).
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError
from jaxgan.models import layers

Dtype = Any


def log2_resolution(image_size: int) -> int:
  """log2(image_size), validated: StyleGAN2 grows from 4x4 by powers of two."""
  r = int(round(math.log2(image_size))) if image_size > 0 else 0
  if r < 2 or 2 ** r != image_size:
    raise UsageError(f"stylegan2 needs image_size a power of two >= 4, got {image_size}")
  return r


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
  """Feature maps at resolution `res`: min(channel_base // res, channel_max)."""
  return min(channel_base // res, channel_max)


def num_ws(image_size: int) -> int:
  """w vectors the synthesis network reads: one per conv, plus the last block's toRGB."""
  return 2 * log2_resolution(image_size) - 2


def noise_sizes(image_size: int) -> list[int]:
  """The side of every synthesis layer's noise map, in layer order."""
  return [4] + [2 ** r for r in range(3, log2_resolution(image_size) + 1) for _ in (0, 1)]


def noise_maps(noise_keys: jax.Array | None, image_size: int, dtype=jnp.float32) -> list:
  """Per-pixel noise (B, res, res, 1) of every synthesis layer, from one draw per example
  (one RNG op per forward compiles far faster than one per layer); [None, ...] without keys."""
  sizes = noise_sizes(image_size)
  if noise_keys is None:
    return [None] * len(sizes)
  total = sum(s * s for s in sizes)
  flat = jax.vmap(lambda k: jax.random.normal(k, (total,), jnp.float32))(noise_keys)
  out, start = [], 0
  for s in sizes:
    out.append(flat[:, start:start + s * s].reshape(-1, s, s, 1).astype(dtype))
    start += s * s
  return out


class Mapping(nn.Module):
  """z -> w: pixel norm of z, then `num_layers` equalized dense layers with lr_mul 0.01."""
  w_dim: int = 512
  num_layers: int = 8
  lr_mul: float = 0.01
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    x = z.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=1, keepdims=True) + 1e-8)
    for i in range(self.num_layers):
      x = layers.EqualizedDense(self.w_dim, lr_mul=self.lr_mul, act=True, dtype=self.dtype,
                                name=f"fc{i}")(x)
    return x.astype(jnp.float32)


class SynthesisLayer(nn.Module):
  """Modulated 3x3 conv (optionally 2x up), noise with learned strength, bias, lrelu."""
  features: int
  up: bool = False
  clamp: float | None = None
  dtype: Dtype = jnp.float32
  conv_impl: str = "lax"

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array, noise: jax.Array | None) -> jax.Array:
    styles = layers.EqualizedDense(x.shape[-1], bias_init=1.0, name="affine")(w)  # (B, I)
    kernel = self.param("kernel", nn.initializers.normal(1.0), (3, 3, x.shape[-1], self.features))
    x = layers.modulated_conv(x, kernel, styles, up=self.up, impl=self.conv_impl)
    strength = self.param("noise_strength", nn.initializers.zeros, ())
    if noise is not None:
      x = x + (noise * strength).astype(x.dtype)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return layers.bias_act(x, bias, act=True, clamp=self.clamp)


class ToRGB(nn.Module):
  """Modulated 1x1 conv without demodulation (styles scaled by 1/sqrt(in)), bias, linear."""
  channels: int
  clamp: float | None = None
  conv_impl: str = "lax"

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    styles = layers.EqualizedDense(x.shape[-1], bias_init=1.0, name="affine")(w)
    styles = styles * x.shape[-1] ** -0.5
    kernel = self.param("kernel", nn.initializers.normal(1.0), (1, 1, x.shape[-1], self.channels))
    x = layers.modulated_conv(x, kernel, styles, demodulate=False, impl=self.conv_impl)
    bias = self.param("bias", nn.initializers.zeros, (self.channels,))
    return layers.bias_act(x, bias, act=False, clamp=self.clamp)


class Synthesis(nn.Module):
  """ws (B, num_ws, w_dim) -> images (B, H, W, C): const 4x4, two convs per resolution
  (the first upsamples), toRGB at every resolution summed into upsampled RGB skips."""
  image_size: int
  channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  clamp: float | None = None
  dtype: Dtype = jnp.float32
  conv_impl: str = "auto"      # layers.CONV_IMPLS: "auto" = the CPU formulations on CPU

  @nn.compact
  def __call__(self, ws: jax.Array, noise_keys: jax.Array | None = None) -> jax.Array:
    ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
    impl = layers.resolve_conv_impl(self.conv_impl)
    b = ws.shape[0]
    const = self.param("const", nn.initializers.normal(1.0), (4, 4, ch(4)))
    x = jnp.broadcast_to(const.astype(self.dtype), (b, 4, 4, ch(4)))
    noise = noise_maps(noise_keys, self.image_size, self.dtype)
    x = SynthesisLayer(ch(4), clamp=self.clamp, dtype=self.dtype, conv_impl=impl,
                       name="b4_conv1")(x, ws[:, 0], noise[0])
    img = ToRGB(self.channels, clamp=self.clamp, conv_impl=impl, name="b4_torgb")(x, ws[:, 1])
    w_idx, layer = 1, 1
    for r in range(3, log2_resolution(self.image_size) + 1):
      res = 2 ** r
      for j, up in ((0, True), (1, False)):
        x = SynthesisLayer(ch(res), up=up, clamp=self.clamp, dtype=self.dtype, conv_impl=impl,
                           name=f"b{res}_conv{j}")(x, ws[:, w_idx], noise[layer])
        w_idx, layer = w_idx + 1, layer + 1
      # toRGB reads the next block's first w (the last block: the extra w).
      y = ToRGB(self.channels, clamp=self.clamp, conv_impl=impl, name=f"b{res}_torgb")(
          x, ws[:, w_idx])
      img = layers.upsample_2d(img) + y
    return img.astype(jnp.float32)


class Generator(nn.Module):
  """G(z, train=) -> images (B, H, W, C), unbounded (about [-1, 1] once trained).

  In train mode the mapping network's output mean is tracked in batch_stats' `w_avg`
  (decay w_avg_beta) for the truncation trick (truncation_psi < 1 at sampling time).
  """
  image_size: int
  channels: int = 3
  latent_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  channel_base: int = 32768
  channel_max: int = 512
  conv_clamp: float | None = None
  w_avg_beta: float = 0.995
  dtype: Dtype = jnp.float32
  conv_impl: str = "auto"

  @property
  def num_ws(self) -> int:
    return num_ws(self.image_size)

  def setup(self):
    self.mapping = Mapping(self.w_dim, self.mapping_layers, dtype=self.dtype)
    self.synthesis = Synthesis(self.image_size, self.channels, self.channel_base,
                               self.channel_max, self.conv_clamp, self.dtype, self.conv_impl)
    self.w_avg = self.variable("batch_stats", "w_avg", jnp.zeros, (self.w_dim,), jnp.float32)

  def map(self, z: jax.Array, train: bool = False, mix_z: jax.Array | None = None,
          mix_cutoff: jax.Array | None = None, truncation_psi: float = 1.0) -> jax.Array:
    """z (B, latent_dim) -> ws (B, num_ws, w_dim), with style mixing and truncation."""
    w = self.mapping(z)
    if train and not self.is_initializing():
      self.w_avg.value = w.mean(0) + self.w_avg_beta * (self.w_avg.value - w.mean(0))
    ws = jnp.repeat(w[:, None], self.num_ws, axis=1)
    if mix_z is not None:
      layer = jnp.arange(self.num_ws)[None, :, None]
      ws = jnp.where(layer < mix_cutoff[:, None, None], ws, self.mapping(mix_z)[:, None])
    if truncation_psi != 1.0:
      ws = self.w_avg.value + truncation_psi * (ws - self.w_avg.value)
    return ws

  def synthesize(self, ws: jax.Array, noise_keys: jax.Array | None = None) -> jax.Array:
    return self.synthesis(ws, noise_keys)

  def __call__(self, z: jax.Array, train: bool = False, *, noise_keys: jax.Array | None = None,
               mix_z: jax.Array | None = None, mix_cutoff: jax.Array | None = None,
               truncation_psi: float = 1.0) -> jax.Array:
    return self.synthesize(self.map(z, train, mix_z, mix_cutoff, truncation_psi), noise_keys)


class DiscriminatorBlock(nn.Module):
  """ResNet block: conv3x3, conv3x3 down 2, plus a 1x1 down-2 skip; both paths * sqrt(1/2)."""
  features: int
  clamp: float | None = None
  dtype: Dtype = jnp.float32
  conv_impl: str = "lax"       # resolved

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    g = 0.5 ** 0.5
    y = layers.EqualizedConv(self.features, 1, "down", use_bias=False, act=False,
                             dtype=self.dtype, conv_impl=self.conv_impl, name="skip")(x, gain=g)
    x = layers.EqualizedConv(x.shape[-1], 3, clamp=self.clamp, dtype=self.dtype,
                             conv_impl=self.conv_impl, name="conv0")(x)
    x = layers.EqualizedConv(self.features, 3, "down", clamp=self.clamp, dtype=self.dtype,
                             conv_impl=self.conv_impl, name="conv1")(x, gain=g)
    return y + x


class Discriminator(nn.Module):
  """D(x, train=) -> logits (B,): fromRGB, ResNet blocks down to 4x4, minibatch stddev,
  conv, dense, dense -> 1."""
  image_size: int
  channels: int = 3
  channel_base: int = 32768
  channel_max: int = 512
  mbstd_group: int = 4
  mbstd_channels: int = 1
  conv_clamp: float | None = None
  dtype: Dtype = jnp.float32
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no batch statistics
    ch = lambda r: channels_at(r, self.channel_base, self.channel_max)
    impl = layers.resolve_conv_impl(self.conv_impl)
    top = log2_resolution(self.image_size)
    x = layers.EqualizedConv(ch(self.image_size), 1, clamp=self.conv_clamp, dtype=self.dtype,
                             conv_impl=impl,
                             name="fromrgb")(x)
    for r in range(top, 2, -1):
      x = DiscriminatorBlock(ch(2 ** (r - 1)), self.conv_clamp, self.dtype, impl,
                             name=f"b{2 ** r}")(x)
    x = layers.minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = layers.EqualizedConv(ch(4), 3, clamp=self.conv_clamp, dtype=self.dtype, conv_impl=impl,
                             name="b4_conv")(x)
    x = layers.EqualizedDense(ch(4), act=True, dtype=self.dtype, name="b4_fc")(
        x.reshape(x.shape[0], -1))
    return layers.EqualizedDense(1, dtype=self.dtype, name="out")(x)[:, 0].astype(jnp.float32)
