"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image D
sees, real and generated alike, for data-efficient GAN training.

Policies (comma-separated, applied in this order): color (brightness, saturation,
contrast), translation (integer shift up to 1/8 of the side, zero fill), cutout (a
zeroed square of half the side). Images are float (B, H, W, C) in [-1, 1].

Randomness is split from the application: `sample(key, n)` draws per-example
parameters (the step draws them for the global batch, so devices agree), and
`apply(x, params)` is a pure, differentiable function of the images.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _shift(img: jax.Array, dy: jax.Array, dx: jax.Array) -> jax.Array:
  """One image (H, W, C) moved by (dy, dx) pixels, vacated pixels zero."""
  h, w = img.shape[:2]
  out = jnp.roll(img, (dy, dx), axis=(0, 1))
  ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  valid = (ys - dy >= 0) & (ys - dy < h) & (xs - dx >= 0) & (xs - dx < w)
  return out * valid[..., None]


def _cutout(img: jax.Array, cy: jax.Array, cx: jax.Array, size: int) -> jax.Array:
  h, w = img.shape[:2]
  ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
  half = size // 2  # a size x size square starting half a side before the centre
  inside = (ys - cy >= -half) & (ys - cy < size - half) & (xs - cx >= -half) & (xs - cx < size - half)
  return img * (~inside)[..., None]


@dataclasses.dataclass(frozen=True)
class DiffAugment:
  """The augmentations named in `policies`; hashable, so it can sit in the static GANDef."""
  policies: tuple[str, ...]

  @classmethod
  def from_policy(cls, text: str) -> "DiffAugment":
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in names if p not in POLICIES]
    if bad:
      raise UsageError(f"unknown augment policy {bad[0]!r}; valid: {', '.join(POLICIES)}")
    return cls(tuple(p for p in POLICIES if p in names))

  def sample(self, key: jax.Array, n: int) -> dict:
    """Per-example parameters, uniform in [0, 1) (scaled to the image in `apply`)."""
    return {"u": jax.random.uniform(key, (n, 7))}

  def apply(self, x: jax.Array, params: dict) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"DiffAugment needs images (B, H, W, C), got {x.shape}")
    u = params["u"]                                                       # (B, 7)
    b, h, w, _ = x.shape
    if "color" in self.policies:
      x = x + (u[:, 0] - 0.5)[:, None, None, None]                          # brightness
      mean_c = jnp.mean(x, axis=3, keepdims=True)
      x = (x - mean_c) * (2.0 * u[:, 1])[:, None, None, None] + mean_c      # saturation
      mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
      x = (x - mean) * (u[:, 2] + 0.5)[:, None, None, None] + mean          # contrast
    if "translation" in self.policies:
      sy, sx = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
      dy = jnp.floor(u[:, 3] * (2 * sy + 1)).astype(jnp.int32) - sy         # in [-sy, sy]
      dx = jnp.floor(u[:, 4] * (2 * sx + 1)).astype(jnp.int32) - sx
      x = jax.vmap(_shift)(x, dy, dx)
    if "cutout" in self.policies:
      size = int(h * CUTOUT_RATIO + 0.5)
      cy = jnp.floor(u[:, 5] * h).astype(jnp.int32)
      cx = jnp.floor(u[:, 6] * w).astype(jnp.int32)
      x = jax.vmap(lambda im, a, c: _cutout(im, a, c, size))(x, cy, cx)
    return x
