"""The latent spaces of a noise generator, for projection and latent edits.

  z    the noise G is sampled from (every noise model): (latent_dim,), N(0, I)
  w    StyleGAN2's intermediate latent, one w for every layer: (w_dim,)
  w+   StyleGAN2's per-layer ws (Abdal et al., Image2StyleGAN): (num_ws, w_dim)

`decode` is the generator from a space to images (eval mode: BatchNorm on running stats,
no per-pixel noise, as `jaxgan generate`); `sample` draws latents of sample i exactly as
`jaxgan generate --seed` does, mapped into the space.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import sampling
from jaxgan.errors import UsageError
from jaxgan.models import stylegan2

SPACES = ("z", "w", "w+")


def is_style_based(generator) -> bool:
  return isinstance(generator, stylegan2.Generator)


def spaces_of(generator) -> tuple[str, ...]:
  return SPACES if is_style_based(generator) else ("z",)


def default_space(generator) -> str:
  """NVIDIA's projector works in W; the other generators have z only."""
  return "w" if is_style_based(generator) else "z"


def check_space(generator, space: str) -> str:
  valid = spaces_of(generator)
  if space not in valid:
    raise UsageError(f"latent space {space!r} is not one of this generator's: {', '.join(valid)}")
  return space


def latent_shape(generator, space: str) -> tuple[int, ...]:
  if space == "z":
    return (generator.latent_dim,)
  if space == "w":
    return (generator.w_dim,)
  return (generator.num_ws, generator.w_dim)


def decode(generator, variables, space: str, latents: jax.Array,
           labels: jax.Array | None = None) -> jax.Array:
  """Latents (B, *latent_shape) -> images (B, H, W, C), float32; `labels` (B,) int for
  class-conditional generators."""
  if space == "z":
    kwargs = {"labels": labels} if sampling.num_classes(generator) else {}
    return generator.apply(variables, latents, train=False, **kwargs).astype(jnp.float32)
  ws = latents if space == "w+" else jnp.repeat(latents[:, None], generator.num_ws, axis=1)
  return generator.apply(variables, ws, method=stylegan2.Generator.synthesize)


def map_z(generator, variables, space: str, z: jax.Array) -> jax.Array:
  """z (B, latent_dim) -> the same samples' latents in `space`."""
  if space == "z":
    return z
  ws = generator.apply(variables, z, method=stylegan2.Generator.map)
  return ws[:, 0] if space == "w" else ws


def sample(generator, variables, space: str, seed: int, indices) -> jax.Array:
  """The latents of `jaxgan generate --seed seed`'s samples `indices`, in `space`."""
  z = sampling.latents_for_indices(seed, np.asarray(indices), generator.latent_dim)
  return map_z(generator, variables, space, z)


def statistics(generator, variables, space: str, num: int = 10_000, seed: int = 123):
  """(mean latent, scalar spread) of the space, as NVIDIA's projector: the mean of `num`
  mapped samples and sqrt(E ||w - mean||^2). For z they are exact: 0 and sqrt(latent_dim)."""
  if space == "z":
    return jnp.zeros((generator.latent_dim,), jnp.float32), float(np.sqrt(generator.latent_dim))
  z = jax.random.normal(jax.random.PRNGKey(seed), (num, generator.latent_dim), jnp.float32)
  w = jax.jit(lambda v, z: map_z(generator, v, "w", z))(variables, z)
  mean = w.mean(0)
  spread = float(jnp.sqrt(jnp.sum((w - mean) ** 2) / num))
  if space == "w+":
    mean = jnp.repeat(mean[None], generator.num_ws, axis=0)
  return mean, spread


def lerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  return a + (b - a) * t


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation along the great circle (White, "Sampling Generative Networks"):
  the path stays at the Gaussian prior's typical radius; the norm is interpolated too.
  Falls back to lerp when a and b are (anti)parallel."""
  na, nb = jnp.linalg.norm(a), jnp.linalg.norm(b)
  cos = jnp.clip(jnp.vdot(a, b) / jnp.maximum(na * nb, 1e-12), -1.0, 1.0)
  omega = jnp.arccos(cos)
  so = jnp.sin(omega)
  safe = so > 1e-6
  so = jnp.where(safe, so, 1.0)
  ua, ub = a / jnp.maximum(na, 1e-12), b / jnp.maximum(nb, 1e-12)
  direction = (jnp.sin((1 - t) * omega) * ua + jnp.sin(t * omega) * ub) / so
  return jnp.where(safe, direction * lerp(na, nb, t), lerp(a, b, t))


def interpolate(space: str, a: jax.Array, b: jax.Array, frames: int) -> jax.Array:
  """`frames` latents from a to b inclusive: slerp in z (Gaussian), lerp in w / w+
  (StyleGAN's perceptual path length measures W with lerp)."""
  if frames < 2:
    raise UsageError(f"an interpolation needs at least 2 frames, got {frames}")
  ts = jnp.linspace(0.0, 1.0, frames)
  step = slerp if space == "z" else lerp
  return jax.vmap(lambda t: step(a, b, t))(ts)
