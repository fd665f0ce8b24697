"""Adversarial losses on discriminator logits.

Every loss returns per-example values (unreduced); the caller takes the mean. All
are written with log-sigmoid / softplus so that they stay finite for any logit:
log(sigmoid(l)) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l).
"""

import jax

from jaxgan.errors import UsageError


def _check_same_shape(a: jax.Array, b: jax.Array) -> None:
  if a.shape != b.shape:
    raise ValueError(f"real and fake logits must have the same shape, got {a.shape} and {b.shape}")


def minimax_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Goodfellow et al. (2014) D loss: -log D(x) - log(1 - D(G(z))), per example."""
  _check_same_shape(real_logits, fake_logits)
  return jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits)


def non_saturating_g_loss(fake_logits: jax.Array) -> jax.Array:
  """The "-log D trick" G loss: -log D(G(z)), per example."""
  return jax.nn.softplus(-fake_logits)


def minimax_g_loss(fake_logits: jax.Array) -> jax.Array:
  """The saturating G loss of the minimax game: log(1 - D(G(z))), per example."""
  return -jax.nn.softplus(fake_logits)


# name -> (d_loss(real_logits, fake_logits), g_loss(fake_logits)); configs pick by name.
GAN_LOSSES = {
    "dcgan": (minimax_d_loss, non_saturating_g_loss),        # DCGAN, non-saturating G
    "non_saturating": (minimax_d_loss, non_saturating_g_loss),
    "minimax": (minimax_d_loss, minimax_g_loss),
}


def get_gan_loss(name: str):
  """Returns the (d_loss, g_loss) pair called `name`; a clear error lists the valid names."""
  try:
    return GAN_LOSSES[name]
  except KeyError:
    raise UsageError(f"unknown loss {name!r}; valid: {', '.join(sorted(GAN_LOSSES))}") from None
