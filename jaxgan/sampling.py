"""Sampling from a trained generator: deterministic per-sample latents, batched eval-mode G.

Conditional generators take a class label per sample; by default sample i asks for
class i mod num_classes. 2-D point generators return points (N, 2); `make_generate_fn`
renders those as a scatter image for previews (the loop's sample grids).
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.train.steps import sample_latents

PREVIEW_SIZE = 64  # pixels per side of a 2-D scatter preview


def latents_for_indices(seed: int, indices: np.ndarray, latent_dim: int) -> jax.Array:
  """z_i from fold_in(PRNGKey(seed), i): sample i is the same whatever N or the batching."""
  base = jax.random.PRNGKey(seed)
  keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices, jnp.uint32))
  return jax.vmap(lambda k: sample_latents(k, 1, latent_dim)[0])(keys)


def num_classes(generator) -> int:
  return int(getattr(generator, "num_classes", 0) or 0)


def default_labels(generator, indices: np.ndarray) -> np.ndarray | None:
  """Class i mod num_classes for sample i of a conditional generator; None otherwise."""
  n = num_classes(generator)
  return (np.asarray(indices) % n).astype(np.int32) if n else None


def _apply(generator, params, batch_stats, z, labels):
  kwargs = {"labels": labels} if num_classes(generator) else {}
  return generator.apply({"params": params, "batch_stats": batch_stats}, z, train=False, **kwargs)


def scatter_preview(points: jax.Array, size: int = PREVIEW_SIZE) -> jax.Array:
  """Points (N, 2) -> one greyscale image (1, size, size, 1) in [-1, 1]: white where a point
  falls, the view fitted to the points (y up)."""
  half = jnp.maximum(jnp.max(jnp.abs(points)), 1e-3) * 1.1
  pix = jnp.clip(((points / half + 1.0) * 0.5 * (size - 1)).round().astype(jnp.int32), 0, size - 1)
  image = jnp.zeros((size, size), jnp.float32).at[size - 1 - pix[:, 1], pix[:, 0]].set(1.0)
  return (image * 2.0 - 1.0)[None, :, :, None]


def make_generate_fn(generator):
  """jitted (g_params, g_batch_stats, z[, labels]) -> images in [-1, 1] to look at,
  BatchNorm on running stats. For a 2-D point generator: a scatter image of its points."""
  @jax.jit
  def generate(params, batch_stats, z, labels=None):
    if labels is None and num_classes(generator):
      labels = jnp.arange(z.shape[0], dtype=jnp.int32) % num_classes(generator)
    out = _apply(generator, params, batch_stats, z, labels)
    return scatter_preview(out) if out.ndim == 2 else out
  return generate


def translation_panels(inputs: np.ndarray, outputs: np.ndarray,
                       targets: np.ndarray | None = None) -> np.ndarray:
  """input | output [| target] side by side per example: (N, H, 2W or 3W, C) in [-1, 1];
  greyscale panels beside colour ones are repeated over the channels."""
  panels = [np.asarray(p, np.float32) for p in (inputs, outputs, targets) if p is not None]
  c = max(p.shape[-1] for p in panels)
  return np.concatenate([np.broadcast_to(p, (*p.shape[:-1], c)) for p in panels], axis=2)


def generate_samples(generator, params, batch_stats, *, num: int, seed: int,
                     labels: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
  """`num` float32 samples from latents seeded by `seed`: images (num, H, W, C) in [-1, 1],
  or points (num, 2). `labels` (num,) int for conditional generators (default i mod K)."""
  if labels is None:
    labels = default_labels(generator, np.arange(num))

  @jax.jit
  def run(p, s, z, y):
    return _apply(generator, p, s, z, y)

  out = []
  for start in range(0, num, batch_size):
    idx = np.arange(start, start + batch_size)  # fixed batch shape: one compilation
    z = latents_for_indices(seed, idx, generator.latent_dim)
    y = None
    if labels is not None:
      y = np.zeros((batch_size,), np.int32)
      chunk = labels[start:start + batch_size]
      y[:len(chunk)] = chunk
    out.append(np.asarray(run(params, batch_stats, z, y))[: num - start])
  return np.concatenate(out, axis=0) if out else np.zeros((0,), np.float32)


def generate_images(generator, params, batch_stats, *, num: int, seed: int,
                    batch_size: int = 256) -> np.ndarray:
  """`num` float32 images (num, H, W, C) in [-1, 1] from latents seeded by `seed`."""
  return generate_samples(generator, params, batch_stats, num=num, seed=seed,
                          batch_size=batch_size)
