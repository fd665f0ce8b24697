"""Adaptive discriminator augmentation (ADA; Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"), the pipeline of NVIDIA's stylegan2-ada-pytorch.

Every image D sees, real or generated, in every D evaluation (G's loss, D's loss, R1),
goes through one random pipeline. Each transform is applied to an example with
probability p times its multiplier; the StyleGAN2 step tunes p during training so that
r_t = E[sign(D(real))] stays near a target (0.6): a D that starts to memorise the
training set pushes r_t up, and p with it (`adjust_p`).

Pipelines (NVIDIA's presets; "bgc" is their default):
  blit   x-flip, rotation by a multiple of 90 degrees, integer translation (up to 1/8 of
         the side)
  geom   isotropic scaling (log2 std 0.2), rotation by any angle (before and after the
         anisotropic scaling, each with probability 1 - sqrt(1 - p), so that at least
         one happens with probability p), anisotropic scaling (log2 std 0.2), fractional
         translation (std 1/8 of the side)
  color  brightness (std 0.2), contrast (log2 std 0.5), luma flip, hue rotation by any
         angle, saturation (log2 std 1); hue and saturation need RGB
  filter image-space filtering: the spectrum split into four octave bands by a filter
         bank built from the sym2 wavelet, each band's gain drawn (log2 std 1) with
         probability p, the gains normalised so that the expected power of a 1/f image
         stays the same
  noise  additive Gaussian noise of standard deviation |N(0, 0.1)| per example
  cutout a rectangle of half the side a side, centred anywhere, set to 0
  bg, bgc, bgcf, bgcfn, bgcfnc  the unions (NVIDIA's names)
Order: geometric, colour, filtering, noise, cutout.
The geometric transforms of an example compose into one inverse 3x3 matrix executed
once: reflect padding, 2x upsampling with the orthogonal sym6 wavelet low-pass,
bilinear sampling, 2x downsampling with the same filter. The colour transforms compose
into one 4x4 matrix. Because sym6's up/down pair reconstructs perfectly, an example
without geometric transforms (p = 0), or with only an integer shift, comes out exact:
nothing of the pipeline leaks into G's images when it is off. (sym6 is not symmetric, so
a flip or quarter turn between the filters is the pixel move only up to the filter's
phase: within a few percent on smooth images, as in NVIDIA's.)

Difference from NVIDIA's: the padding is symmetric and one of four static sizes (1/8,
1/4, 1/2 of the side or their upper bound, side - 1), the smallest that covers the
batch's measured margin (shapes are static under jit): the sampled pixels are the same.
The noise field of an example comes from its own drawn seed (so `apply` stays a pure
function of its values), not from the same generator as NVIDIA's. `apply` runs its
matrices and filters in full float32 on every backend (accelerators' default TF32/bf16
passes would move sampling positions by a fraction of a pixel).

Randomness is split from the application, as in jaxgan.augment: `sample(key, n, p)`
draws per-example transform values (identity where a transform is not applied) and
`apply(x, params)` is a pure, differentiable function of the images (B, H, W, C),
float in [-1, 1], C = 1 or 3.
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import UsageError
from jaxgan.models.layers import upfirdn_2d

# Published low-pass decomposition filter of the Symlet-6 wavelet (PyWavelets'
# Wavelet("sym6").dec_lo; tests/test_ada.py checks orthogonality).
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057,
        -0.048311742585633, 0.4910559419267466, 0.787641141030194, 0.3379294217276218,
        -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148)
FILTER_PAD = len(SYM6) // 4  # original pixels the filters reach beyond the image
# Published low-pass decomposition filter of the Symlet-2 wavelet (PyWavelets'
# Wavelet("sym2").dec_lo), the root of the image-space filter bank.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)

GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
PIPES = {
    "blit": ("xflip", "rotate90", "xint"),
    "geom": ("scale", "rotate", "aniso", "xfrac"),
    "color": COLOR,
    "filter": ("imgfilter",),
    "noise": ("noise",),
    "cutout": ("cutout",),
    "bg": GEOMETRIC,
    "bgc": GEOMETRIC + COLOR,
    "bgcf": GEOMETRIC + COLOR + ("imgfilter",),
    "bgcfn": GEOMETRIC + COLOR + ("imgfilter", "noise"),
    "bgcfnc": GEOMETRIC + COLOR + ("imgfilter", "noise", "cutout"),
}
# Ranges (NVIDIA's defaults): integer translation as a fraction of the side; log2 standard
# deviations of the scalings; fractional translation's std as a fraction of the side.
XINT_MAX, SCALE_STD, ANISO_STD, XFRAC_STD = 0.125, 0.2, 0.2, 0.125
BRIGHTNESS_STD, CONTRAST_STD, SATURATION_STD = 0.2, 0.5, 1.0
# Image space: log2 std of a band's gain, the bands' share of a 1/f image's power (lowest
# band first), the noise's std, the cutout's side as a fraction of the image's.
IMGFILTER_STD, BAND_POWER, NOISE_STD, CUTOUT_SIZE = 1.0, (10 / 13, 1 / 13, 1 / 13, 1 / 13), 0.1, 0.5
# The values of a transform that is not applied.
IDENTITY = {"xflip": 0.0, "rotate90": 0.0, "xint": 0.0, "scale": 1.0, "rotate_pre": 0.0,
            "aniso": 1.0, "rotate_post": 0.0, "xfrac": 0.0, "brightness": 0.0,
            "contrast": 1.0, "lumaflip": 0.0, "hue": 0.0, "saturation": 1.0,
            "imgfilter": 1.0, "noise": 0.0, "noise_seed": 0, "cutout": 0.0,
            "cutout_center": 0.0}
WIDTHS = {"xint": 2, "xfrac": 2, "imgfilter": 4, "cutout_center": 2}  # (n, width) values
TRANSFORM_OF = {"rotate_pre": "rotate", "rotate_post": "rotate", "noise_seed": "noise",
                "cutout_center": "cutout"}  # value name -> the transform it belongs to


# --- Homogeneous matrices, batched over the leading axis ------------------------------------

def _matrix(rows) -> jax.Array:
  """Nested lists of scalars or (n,) arrays -> (n, R, C) (or (R, C) for all scalars)."""
  arrays = [jnp.asarray(v, jnp.float32) for row in rows for v in row]
  shape = jnp.broadcast_shapes(*(a.shape for a in arrays))
  stacked = jnp.stack([jnp.broadcast_to(a, shape) for a in arrays], axis=-1)
  return stacked.reshape(shape + (len(rows), len(rows[0])))


def translate2d(tx, ty):
  return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def scale2d(sx, sy):
  return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(theta):
  c, s = jnp.cos(theta), jnp.sin(theta)
  return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def scale3d(s):
  """Uniform scaling of the three colour axes, 4x4."""
  return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]])


def _luma_axis() -> jax.Array:
  return jnp.asarray([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)


def rotate3d_about(v: jax.Array, theta) -> jax.Array:
  """Rotation by theta about the unit axis v (Rodrigues), as a 4x4 homogeneous matrix."""
  c, s = jnp.cos(theta), jnp.sin(theta)
  x, y, z = v[0], v[1], v[2]
  k = 1 - c
  return _matrix([[x * x * k + c, x * y * k - z * s, x * z * k + y * s, 0],
                  [y * x * k + z * s, y * y * k + c, y * z * k - x * s, 0],
                  [z * x * k - y * s, z * y * k + x * s, z * z * k + c, 0],
                  [0, 0, 0, 1]])


# --- Resampling -----------------------------------------------------------------------------

def _bilinear(image: jax.Array, xs: jax.Array, ys: jax.Array) -> jax.Array:
  """image (H, W, C) sampled at pixel coordinates (xs, ys) (pixel centres at integers),
  zero outside: (*xs.shape, C)."""
  h, w, c = image.shape
  flat = image.reshape(h * w, c)
  x0, y0 = jnp.floor(xs), jnp.floor(ys)
  out = 0.0
  for dx in (0, 1):
    for dy in (0, 1):
      xi, yi = x0 + dx, y0 + dy
      weight = (1 - jnp.abs(xs - xi)) * (1 - jnp.abs(ys - yi))
      inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
      index = (jnp.clip(yi, 0, h - 1) * w + jnp.clip(xi, 0, w - 1)).astype(jnp.int32)
      out = out + flat[index] * jnp.where(inside, weight, 0.0)[..., None]
  return out


def padding_buckets(height: int, width: int) -> list[tuple[int, int]]:
  """The static paddings (rows, columns) warp chooses from: 1/8, 1/4 and 1/2 of the side,
  and NVIDIA's upper bound, side - 1."""
  full = (height - 1, width - 1)
  buckets = [(min(-(-height * k // 8), full[0]), min(-(-width * k // 8), full[1])) for k in (1, 2, 4)]
  return sorted(set(buckets + [full]))


def needed_padding(g_inv: jax.Array, height: int, width: int) -> jax.Array:
  """NVIDIA's margin (rows, columns): how far beyond the image the batch's transformed
  corners reach, plus the filters' reach, rounded up; at most side - 1."""
  cx, cy = (width - 1) / 2, (height - 1) / 2
  corners = jnp.asarray([[-cx, cx, cx, -cx], [-cy, -cy, cy, cy], [1.0, 1.0, 1.0, 1.0]])
  reach = jnp.max(jnp.abs(g_inv @ corners)[:, :2, :], axis=(0, 2))     # (x, y)
  margin = jnp.ceil(reach + 2 * FILTER_PAD - jnp.asarray([cx, cy]))
  return jnp.minimum(margin[::-1], jnp.asarray([height - 1, width - 1], jnp.float32))


def warp(x: jax.Array, g_inv: jax.Array) -> jax.Array:
  """Images (B, H, W, C) under the inverse transforms g_inv (B, 3, 3), which map an output
  pixel to its input pixel in coordinates centred on the image (module doc). The padding
  is the smallest of padding_buckets covering needed_padding (lax.switch between
  compiled variants): every bucket samples the same pixels, and small transforms (p near
  0) upsample a quarter of the area that side - 1 would."""
  _, h, w, _ = x.shape
  if h < 2 or w < 2:
    raise ValueError(f"geometric augmentation needs images of at least 2x2, got {h}x{w}")
  buckets = padding_buckets(h, w)
  if len(buckets) == 1:
    return warp_padded(x, g_inv, buckets[0])
  need = needed_padding(g_inv, h, w)
  fits = jnp.stack([(need[0] <= py) & (need[1] <= px) for py, px in buckets[:-1]]
                   + [jnp.asarray(True)])
  index = jnp.argmax(fits)  # the first that fits; the last always does
  branches = [lambda x, g, pad=pad: warp_padded(x, g, pad) for pad in buckets]
  return jax.lax.switch(index, branches, x, g_inv)


def warp_padded(x: jax.Array, g_inv: jax.Array, pad: tuple[int, int]) -> jax.Array:
  """warp with reflect padding of pad = (rows, columns) on each side: pad, upsample,
  sample, downsample."""
  _, h, w, _ = x.shape
  x = jnp.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)), mode="reflect")
  up = upfirdn_2d(x, up=2, pad=(6, 5), gain=4.0, taps=SYM6)
  hi, wi = up.shape[1:3]
  ho, wo = 2 * (h + 2 * FILTER_PAD), 2 * (w + 2 * FILTER_PAD)
  # Into the upsampled image's pixel units, its pixel centres at half-integers.
  g = scale2d(2, 2) @ g_inv @ scale2d(0.5, 0.5)
  g = translate2d(-0.5, -0.5) @ g @ translate2d(0.5, 0.5)
  # From output pixel indices to the upsampled input's, through normalised [-1, 1] coordinates
  # (pixel centres at (2i + 1) / size - 1 on both sides).
  to_unit = _matrix([[2 / wo, 0, 1 / wo - 1], [0, 2 / ho, 1 / ho - 1], [0, 0, 1]])
  from_unit = _matrix([[wi / 2, 0, (wi - 1) / 2], [0, hi / 2, (hi - 1) / 2], [0, 0, 1]])
  m = from_unit @ scale2d(2 / wi, 2 / hi) @ g @ scale2d(wo / 2, ho / 2) @ to_unit
  cols, rows = jnp.meshgrid(jnp.arange(wo, dtype=jnp.float32), jnp.arange(ho, dtype=jnp.float32))
  pix = jnp.stack([cols, rows, jnp.ones_like(cols)], axis=-1)         # (ho, wo, 3)
  # Full f32: TF32/bf16 passes (accelerators' default) would move a 256-pixel image's
  # sampling positions by up to a pixel.
  src = jnp.einsum("bij,hwj->bhwi", m, pix, precision=jax.lax.Precision.HIGHEST)
  sampled = jax.vmap(_bilinear)(up, src[..., 0], src[..., 1])
  return upfirdn_2d(sampled, down=2, pad=(-1, -1), taps=SYM6[::-1])


def _apply_color(x: jax.Array, c: jax.Array) -> jax.Array:
  """Images (B, H, W, C) under 4x4 colour matrices c (B, 4, 4); grey images take the mean
  of the RGB rows applied to a grey pixel."""
  if x.shape[-1] == 3:
    return (jnp.einsum("bij,bhwj->bhwi", c[:, :3, :3], x, precision=jax.lax.Precision.HIGHEST)
            + c[:, None, None, :3, 3])
  if x.shape[-1] == 1:
    rows = jnp.mean(c[:, :3, :], axis=1)                             # (B, 4)
    return x * jnp.sum(rows[:, :3], axis=1)[:, None, None, None] + rows[:, None, None, 3:]
  raise ValueError(f"ADA's colour transforms need 1 or 3 channels, got {x.shape[-1]}")


# --- Image space: filtering, noise, cutout --------------------------------------------------

def filter_bank() -> np.ndarray:
  """(4, 43) symmetric filters splitting the spectrum into octave bands, lowest first,
  that sum to a unit impulse (so unit gains change nothing). Built from sym2's
  power-complementary half-band pair lo2 = H(z)H(1/z)/2, hi2 = H(-z)H(-1/z)/2 (lo2 +
  hi2 = impulse): three times, every band so far is stretched by 2 (a zero between
  taps) and low-passed by lo2, and the new band i gets hi2 at the centre."""
  lo = np.asarray(SYM2)
  hi = lo * (-1.0) ** np.arange(lo.size)
  lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
  bank = np.zeros((4, 1))
  bank[0, 0] = 1.0
  for band in range(1, 4):
    stretched = np.zeros((4, 2 * bank.shape[1] - 1))
    stretched[:, ::2] = bank
    bank = np.stack([np.convolve(row, lo2) for row in stretched])
    start = (bank.shape[1] - hi2.size) // 2
    bank[band, start:start + hi2.size] += hi2
  return bank


def band_gains(t: jax.Array) -> jax.Array:
  """Per-band amplifications t (B, 4) -> the gains applied (B, 4): each t_i divided by
  sqrt(1 + P_i (t_i^2 - 1)), the factor that restores the expected power of a 1/f image
  (band shares P = BAND_POWER) after band i alone is amplified by t_i."""
  power = jnp.asarray(BAND_POWER, jnp.float32)
  return t / jnp.prod(jnp.sqrt(1 + power * (t * t - 1)), axis=1, keepdims=True)


def _reflect_taps(n: int, num_taps: int) -> np.ndarray:
  """(n, num_taps, n) one-hot: output position v's tap k reads input position
  reflect(v + k - num_taps // 2) (reflect padding without repeating the edge, folded in
  however far the taps reach)."""
  src = np.arange(n)[:, None] + np.arange(num_taps)[None, :] - num_taps // 2
  period = 2 * (n - 1)
  src = np.mod(src, period) if period else np.zeros_like(src)
  src = np.where(src > n - 1, period - src, src)
  onehot = np.zeros((n, num_taps, n), np.float32)
  onehot[np.arange(n)[:, None], np.arange(num_taps)[None, :], src] = 1.0
  return onehot


def _filter(x: jax.Array, gains: jax.Array) -> jax.Array:
  """Images (B, H, W, C) through their separable filter (gains (B, 4) @ filter_bank()),
  reflect-padded; examples with unit gains are returned as they are (exactly). Each
  direction is one (n, n) matrix per example with the padding folded in: a batched
  matmul, not 43 shifted copies of the padded image."""
  taps = band_gains(gains) @ jnp.asarray(filter_bank(), jnp.float32)   # (B, 43)
  _, h, w, _ = x.shape
  exact = functools.partial(jnp.einsum, precision=jax.lax.Precision.HIGHEST)  # not bf16 passes
  along_w = exact("bk,vku->bvu", taps, _reflect_taps(w, taps.shape[1]))
  along_h = exact("bk,vku->bvu", taps, _reflect_taps(h, taps.shape[1]))
  out = exact("bhuc,bvu->bhvc", x, along_w)
  out = exact("buwc,bvu->bvwc", out, along_h)
  unit = jnp.all(gains == 1.0, axis=1)[:, None, None, None]
  return jnp.where(unit, x, out)


def _noise(x: jax.Array, sigma: jax.Array, seeds: jax.Array) -> jax.Array:
  """x + sigma * N(0, 1) per pixel and channel, each example's field from its seed."""
  field = jax.vmap(lambda s: jax.random.normal(jax.random.PRNGKey(s), x.shape[1:]))(seeds)
  return x + sigma[:, None, None, None] * field


def _cutout(x: jax.Array, size: jax.Array, center: jax.Array) -> jax.Array:
  """x with the pixels whose centres lie within size/2 (a fraction of each side) of
  `center` (B, 2: x, y in [0, 1]) on both axes set to 0."""
  _, h, w, _ = x.shape
  cx = (jnp.arange(w) + 0.5) / w
  cy = (jnp.arange(h) + 0.5) / h
  inside_x = jnp.abs(cx[None, :] - center[:, :1]) < size[:, None] / 2               # (B, W)
  inside_y = jnp.abs(cy[None, :] - center[:, 1:]) < size[:, None] / 2               # (B, H)
  keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
  return x * keep[..., None].astype(x.dtype)


# --- The pipeline -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AugmentPipe:
  """The transforms of one preset (PIPES); hashable, so it can sit in the static GANDef."""
  transforms: tuple[str, ...]

  @classmethod
  def from_name(cls, name: str) -> "AugmentPipe":
    if name not in PIPES:
      raise UsageError(f"unknown ADA pipeline {name!r}; valid: {', '.join(PIPES)}")
    return cls(PIPES[name])

  def sample(self, key: jax.Array, n: int, p) -> dict:
    """Per-example transform values for n examples at probability p (a scalar, traced or
    not); transforms outside the pipeline, or not drawn, get their IDENTITY values."""
    keys = iter(jax.random.split(key, 32))
    u = lambda shape=(n,): jax.random.uniform(next(keys), shape)
    z = lambda shape=(n,): jax.random.normal(next(keys), shape)
    values = {}

    def gated(name, value, prob, transform=None):
      """value where the example's draw falls under prob, IDENTITY elsewhere."""
      gate = u((n, 1) if value.ndim == 2 else (n,)) < prob  # one gate for both of (x, y)
      if (transform or name) not in self.transforms:
        gate = jnp.zeros_like(gate)
      values[name] = jnp.where(gate, value, IDENTITY[name])

    gated("xflip", jnp.floor(u() * 2), p)
    gated("rotate90", jnp.floor(u() * 4), p)
    gated("xint", (u((n, 2)) * 2 - 1) * XINT_MAX, p)
    gated("scale", jnp.exp2(z() * SCALE_STD), p)
    p_rotate = 1 - jnp.sqrt(jnp.clip(1 - p, 0, 1))  # P(pre or post) = p
    gated("rotate_pre", (u() * 2 - 1) * np.pi, p_rotate, "rotate")
    gated("aniso", jnp.exp2(z() * ANISO_STD), p)
    gated("rotate_post", (u() * 2 - 1) * np.pi, p_rotate, "rotate")
    gated("xfrac", z((n, 2)) * XFRAC_STD, p)
    gated("brightness", z() * BRIGHTNESS_STD, p)
    gated("contrast", jnp.exp2(z() * CONTRAST_STD), p)
    gated("lumaflip", jnp.floor(u() * 2), p)
    gated("hue", (u() * 2 - 1) * np.pi, p)
    gated("saturation", jnp.exp2(z() * SATURATION_STD), p)
    # Image space, from its own keys (the draws above stay what they were before it
    # existed); each band's gain is gated on its own.
    keys = iter(jax.random.split(jax.random.fold_in(key, 1), 8))
    bands = jnp.where(u((n, 4)) < p, jnp.exp2(z((n, 4)) * IMGFILTER_STD), 1.0)
    values["imgfilter"] = bands if "imgfilter" in self.transforms else jnp.ones((n, 4))
    gated("noise", jnp.abs(z()) * NOISE_STD, p)
    values["noise_seed"] = jax.random.randint(next(keys), (n,), 0, 2 ** 31 - 1, jnp.int32)
    gated("cutout", jnp.full((n,), CUTOUT_SIZE), p)
    values["cutout_center"] = u((n, 2))
    return values

  def geometry(self, params: dict, height: int, width: int) -> jax.Array:
    """The inverse transforms (B, 3, 3): output pixel -> input pixel, centred coordinates."""
    v = params
    g = scale2d(1 - 2 * v["xflip"], 1.0)
    g = g @ rotate2d(np.pi / 2 * v["rotate90"])
    g = g @ translate2d(-jnp.round(v["xint"][:, 0] * width), -jnp.round(v["xint"][:, 1] * height))
    g = g @ scale2d(1 / v["scale"], 1 / v["scale"])
    g = g @ rotate2d(v["rotate_pre"])
    g = g @ scale2d(1 / v["aniso"], v["aniso"])
    g = g @ rotate2d(v["rotate_post"])
    return g @ translate2d(-v["xfrac"][:, 0] * width, -v["xfrac"][:, 1] * height)

  def color(self, params: dict, channels: int) -> jax.Array:
    """The colour matrices (B, 4, 4): colour in -> colour out."""
    v = params
    axis = _luma_axis()
    outer = jnp.outer(axis, axis)
    b = v["brightness"]
    c = _matrix([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]])
    c = scale3d(v["contrast"]) @ c
    c = (jnp.eye(4) - 2 * outer * v["lumaflip"][:, None, None]) @ c  # Householder reflection
    if channels > 1:
      c = rotate3d_about(axis, v["hue"]) @ c
      c = (outer + (jnp.eye(4) - outer) * v["saturation"][:, None, None]) @ c
    return c

  def apply(self, x: jax.Array, params: dict) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"ADA needs images (B, H, W, C), got {x.shape}")
    # Transform matrices, coordinates and filters in full float32 on every backend (GPUs'
    # TF32 and TPUs' bf16 passes would shift sampling positions by a fraction of a pixel).
    with jax.default_matmul_precision("highest"):
      return self._apply(x, params)

  def _apply(self, x: jax.Array, params: dict) -> jax.Array:
    dtype = x.dtype
    x = x.astype(jnp.float32)
    if any(t in self.transforms for t in GEOMETRIC):
      x = warp(x, self.geometry(params, x.shape[1], x.shape[2]))
    if any(t in self.transforms for t in COLOR):
      x = _apply_color(x, self.color(params, x.shape[-1]))
    if "imgfilter" in self.transforms:
      x = _filter(x, params["imgfilter"])
    if "noise" in self.transforms:
      x = _noise(x, params["noise"], params["noise_seed"])
    if "cutout" in self.transforms:
      x = _cutout(x, params["cutout"], params["cutout_center"])
    return x.astype(dtype)


def adjust_p(p: jax.Array, sign_mean: jax.Array, *, target: float, images: int,
             kimg: float) -> jax.Array:
  """ADA's update after an interval of `images` real images whose D outputs had mean sign
  `sign_mean`: p moves by images / (kimg * 1000) towards making r_t = target (one unit of p
  per `kimg` thousand images), never below 0."""
  step = images / (kimg * 1000.0)
  return jnp.maximum(p + jnp.sign(sign_mean - target) * step, 0.0)
