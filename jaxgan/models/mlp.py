"""MLP generator and discriminator for 2-D data (the ring and grid mode-collapse toys).

Sizes follow the spirit of the VEEGAN / PacGAN toy networks (a few fully connected
ReLU layers of a few hundred units), shrunk so a run takes minutes on a CPU.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers


class Generator(nn.Module):
  """z (B, latent_dim) -> points (B, out_dim), unbounded (linear output)."""
  latent_dim: int = 2
  width: int = 128             # units per hidden layer
  depth: int = 3               # hidden layers
  out_dim: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train  # no batch statistics
    x = z
    for i in range(self.depth):
      x = nn.relu(layers.SNDense(self.width, dtype=self.dtype, name=f"fc{i}")(x))   # (B, width)
    return layers.SNDense(self.out_dim, dtype=self.dtype, name="out")(x).astype(jnp.float32)


class Discriminator(nn.Module):
  """points (B, in_dim) -> logits (B,); optionally spectrally normalised."""
  width: int = 128
  depth: int = 3
  spectral: bool = False       # spectral norm on every layer (Miyato et al. 2018)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    if x.ndim != 2:
      raise ValueError(f"the MLP discriminator expects (B, features) points, got {x.shape}")
    for i in range(self.depth):
      x = layers.SNDense(self.width, spectral=self.spectral, dtype=self.dtype,
                         name=f"fc{i}")(x, update_stats=train)
      x = nn.leaky_relu(x, 0.2)                                          # (B, width)
    x = layers.SNDense(1, spectral=self.spectral, dtype=self.dtype, name="logit")(
        x, update_stats=train)                                           # (B, 1)
    return x[:, 0].astype(jnp.float32)
