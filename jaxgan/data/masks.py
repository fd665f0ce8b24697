"""Inpainting hole masks, drawn on the accelerator inside the train step (pure JAX).

DeepFill v2's training masks (Yu et al. 2019, the authors' `brush_stroke_mask` and
`random_bbox`/`bbox2mask`): the union of 1-4 free-form brush strokes and one
jittered rectangle. A stroke is a polyline of 4-12 vertices, its turns alternating
around 2*pi/5, its segment lengths normal around the image diagonal / 8, drawn with a
round brush 12-40 pixels wide; the rectangle is half the image, shrunk on each side by
up to a sixteenth (32 of 256 pixels). Lengths scale with the image (the authors'
numbers are for 256x256); the mask is flipped left-right and up-down at random.

Every mask is a function of (key, index) alone, so the holes of example i do not
depend on how many devices or processes share the batch. No TensorFlow: the benchmark
harness draws the same masks on a bare accelerator machine. 1 marks a hole.
"""

import functools
import math

import jax
import jax.numpy as jnp

MAX_STROKES = 4
MAX_VERTICES = 12
KINDS = ("deepfill", "strokes", "box")


def _segment_distance(px, py, ax, ay, bx, by):
  """Distance of points (px, py) to the segments (a, b), broadcast."""
  dx, dy = bx - ax, by - ay
  length2 = dx * dx + dy * dy
  t = jnp.clip(((px - ax) * dx + (py - ay) * dy) / jnp.maximum(length2, 1e-12), 0.0, 1.0)
  return jnp.hypot(px - (ax + t * dx), py - (ay + t * dy))


def stroke_mask(key: jax.Array, size: int) -> jax.Array:
  """1-4 brush strokes: float32 (size, size), 1 on the strokes."""
  unit = size / 256.0  # the authors' pixel numbers are for 256x256
  radius = math.sqrt(2 * size * size) / 8
  k = jax.random.split(key, 8)
  num_strokes = jax.random.randint(k[0], (), 1, MAX_STROKES + 1)
  # uniform(4, 12) truncated to an int, as the authors' np.random.randint(4, 12)
  num_vertices = jax.random.randint(k[1], (MAX_STROKES,), 4, MAX_VERTICES)
  mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
  lo = mean_angle - jax.random.uniform(k[2], (MAX_STROKES, 1), maxval=angle_range)
  hi = mean_angle + jax.random.uniform(k[3], (MAX_STROKES, 1), maxval=angle_range)
  angles = lo + (hi - lo) * jax.random.uniform(k[4], (MAX_STROKES, MAX_VERTICES))
  angles = jnp.where(jnp.arange(MAX_VERTICES) % 2 == 0, 2 * math.pi - angles, angles)
  lengths = jnp.clip(radius + radius / 2 * jax.random.normal(k[5], (MAX_STROKES, MAX_VERTICES)),
                     0.0, 2 * radius)
  start = jax.random.uniform(k[6], (MAX_STROKES, 2), maxval=size)
  width = unit * jax.random.uniform(k[7], (MAX_STROKES,), minval=12.0, maxval=40.0)

  def walk(point, step):  # vertices clip to the image, as the authors'
    nxt = jnp.clip(point + step, 0.0, size)
    return nxt, nxt

  steps = jnp.stack([lengths * jnp.cos(angles), lengths * jnp.sin(angles)], axis=-1)
  _, path = jax.vmap(lambda p, s: jax.lax.scan(walk, p, s))(start, steps)
  vertices = jnp.concatenate([start[:, None], path], axis=1)       # (S, V + 1, 2)
  a, b = vertices[:, :-1], vertices[:, 1:]                          # segments (S, V, 2)
  used = ((jnp.arange(MAX_STROKES) < num_strokes)[:, None]
          & (jnp.arange(MAX_VERTICES)[None] < num_vertices[:, None]))
  centres = jnp.arange(size, dtype=jnp.float32) + 0.5
  py, px = centres[:, None, None, None], centres[None, :, None, None]
  dist = _segment_distance(px, py, a[..., 0], a[..., 1], b[..., 0], b[..., 1])  # (H, W, S, V)
  inside = (dist <= width[:, None] / 2) & used
  return jnp.any(inside, axis=(-1, -2)).astype(jnp.float32)


def box_mask(key: jax.Array, size: int) -> jax.Array:
  """A half-size rectangle at a random place, each side pulled in by up to size / 16
  (the authors' random_bbox + bbox2mask): float32 (size, size)."""
  box, delta = size // 2, size // 8  # 128 and max_delta 32 at 256
  k1, k2, k3, k4 = jax.random.split(key, 4)
  top = jax.random.randint(k1, (), 0, size - box + 1)
  left = jax.random.randint(k2, (), 0, size - box + 1)
  dh = jax.random.randint(k3, (), 0, delta // 2 + 1)
  dw = jax.random.randint(k4, (), 0, delta // 2 + 1)
  rows, cols = jnp.arange(size)[:, None], jnp.arange(size)[None, :]
  inside = ((rows >= top + dh) & (rows < top + box - dh)
            & (cols >= left + dw) & (cols < left + box - dw))
  return inside.astype(jnp.float32)


def random_mask(key: jax.Array, size: int, kind: str = "deepfill") -> jax.Array:
  """One mask (size, size, 1), float32, 1 = hole. kind: "deepfill" (strokes and a box,
  the authors' training masks), "strokes" or "box"."""
  if kind not in KINDS:
    raise ValueError(f"unknown mask kind {kind!r}; valid: {', '.join(KINDS)}")
  k_stroke, k_box, k_flip = jax.random.split(key, 3)
  if kind == "box":
    mask = box_mask(k_box, size)
  else:
    mask = stroke_mask(k_stroke, size)
    if kind == "deepfill":
      mask = jnp.maximum(mask, box_mask(k_box, size))
  flips = jax.random.bernoulli(k_flip, 0.5, (2,))
  mask = jnp.where(flips[0], mask[:, ::-1], mask)
  mask = jnp.where(flips[1], mask[::-1, :], mask)
  return mask[:, :, None]


@functools.partial(jax.jit, static_argnames=("size", "kind"))
def random_masks(key: jax.Array, indices: jax.Array, size: int,
                 kind: str = "deepfill") -> jax.Array:
  """Masks (N, size, size, 1) of the examples `indices` (int (N,)): example i's mask is
  random_mask(fold_in(key, i)), whatever else is in the batch."""
  return jax.vmap(lambda i: random_mask(jax.random.fold_in(key, i), size, kind))(indices)
