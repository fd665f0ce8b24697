"""Sampling from a trained generator: deterministic per-sample latents, batched eval-mode G."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.train.steps import sample_latents


def latents_for_indices(seed: int, indices: np.ndarray, latent_dim: int) -> jax.Array:
  """z_i from fold_in(PRNGKey(seed), i): sample i is the same whatever N or the batching."""
  base = jax.random.PRNGKey(seed)
  keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices, jnp.uint32))
  return jax.vmap(lambda k: sample_latents(k, 1, latent_dim)[0])(keys)


def make_generate_fn(generator):
  """jitted (g_params, g_batch_stats, z) -> images in [-1, 1], BatchNorm on running stats."""
  @jax.jit
  def generate(params, batch_stats, z):
    return generator.apply({"params": params, "batch_stats": batch_stats}, z, train=False)
  return generate


def generate_images(generator, params, batch_stats, *, num: int, seed: int,
                    batch_size: int = 256) -> np.ndarray:
  """`num` float32 images (num, H, W, C) in [-1, 1] from latents seeded by `seed`."""
  generate = make_generate_fn(generator)
  out = []
  for start in range(0, num, batch_size):
    idx = np.arange(start, start + batch_size)  # fixed batch shape: one compilation
    z = latents_for_indices(seed, idx, generator.latent_dim)
    out.append(np.asarray(generate(params, batch_stats, z))[: num - start])
  return np.concatenate(out, axis=0) if out else np.zeros((0,), np.float32)
