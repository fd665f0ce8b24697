"""PacGAN packing (Lin et al. 2018): D judges m samples at once, all real or all fake.

A discriminator that sees the joint distribution of m independent samples can tell a
collapsed generator (m near-identical samples) from the data, which plain D cannot. The
m samples are concatenated along the last axis: points (B, 2) -> (B/m, 2m) as in the
paper's toy experiments, images (B, H, W, C) -> (B/m, H, W, mC) as in its image models.
Consecutive examples form a pack, so a per-device batch that divides by m packs locally.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def pack(x: jax.Array, m: int) -> jax.Array:
  """(B, ..., F) -> (B/m, ..., mF): example b*m + j fills features [jF, (j+1)F) of pack b."""
  if x.shape[0] % m:
    raise ValueError(f"a batch of {x.shape[0]} does not divide into packs of {m}")
  grouped = x.reshape((x.shape[0] // m, m) + x.shape[1:])          # (B/m, m, ..., F)
  moved = jnp.moveaxis(grouped, 1, -2)                             # (B/m, ..., m, F)
  return moved.reshape(moved.shape[:-2] + (m * x.shape[-1],))      # (B/m, ..., mF)


class Packed(nn.Module):
  """D(x) = inner(pack(x, m)): logits (B/m,), one per pack."""
  inner: nn.Module
  m: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    if self.is_initializing() and x.shape[0] % self.m:  # init may use a single example
      x = jnp.repeat(x, self.m, axis=0)
    return self.inner(pack(x, self.m), train=train)
