"""The FID Inception-v3 (TensorFlow's 2015-12-05 graph, as pytorch-fid ports it) in Flax.

FID, KID and IS are only comparable with published numbers when computed with this exact
network: TensorFlow's Inception-v3 of 2015 (1008 classes), in the layout of pytorch-fid's
`pt_inception-2015-12-05-6726825d.pth`, which pytorch-fid, torch-fidelity, clean-fid and
NVIDIA's metrics all use. It differs from torchvision's Inception-v3 in three places:
the average pools inside Mixed_5b-d, Mixed_6b-e and Mixed_7b skip the zero padding
(TensorFlow's SAME average pool), Mixed_7c pools by max instead of average, and the
classifier has 1008 outputs. BatchNorm (eps 0.001) runs in inference mode only.

Usage (the whole public API):

  from jaxgan.models import inception
  weights = inception.load_inception()            # UsageError says how to get the file
  for images in batches:                          # (N, H, W, 3) uint8, or float in [0, 1]
    pool3, logits = inception.inception_features(weights, images)
    # pool3 (N, 2048) float32: FID/KID/precision-recall features
    # logits (N, 1008) float32: Inception Score logits (see below)

`inception_features` runs two jitted stages (resize per input shape, network per batch
size) and can be fed batch after batch; images sharded over devices along the batch stay
sharded (weights are replicated). Images may be any size and are resized to 299x299.

Input. NHWC, either uint8 in [0, 255] or floating point in [0, 1] (uint8 is divided by
255, as pytorch-fid's ToTensor does). One channel is repeated to RGB, as PIL's
convert("RGB") does for the grey images pytorch-fid reads. Generator output in [-1, 1]
must be mapped to [0, 1] (or quantised to uint8, as saved samples are) by the caller.

Preprocessing (`preprocess=`), the one place where FID implementations differ by more
than round-off:
  "pytorch_fid" (default): x/255 -> F.interpolate(bilinear, align_corners=False,
      antialias=False) to 299x299 -> 2x - 1. Half-pixel centres, no antialiasing, even
      when shrinking. Verified against pytorch-fid 0.3.0 (tests/test_inception.py).
  "tf1": TensorFlow 1.x ResizeBilinear (align_corners=False, half_pixel_centers=False:
      source = destination * in/out) on values in [0, 255], then (x - 128) / 128. This is
      what the original TTUR FID and Inception Score code feed the graph, and what
      torch-fidelity reimplements (its published CIFAR-10 FID is computed this way).
      Verified against torch-fidelity 0.4.0's feature extractor.
Both resizes are exact linear maps, applied as two small matrices (rows x cols).

Logits. `logits` are pool3 @ fc.weight.T WITHOUT the classifier bias: what the original
Inception Score code (Salimans et al. 2016, which reads the MatMul before the bias add)
and torch-fidelity ("logits_unbiased", its IS default) use, so IS over them matches
published values. The biased classifier logits are logits + weights["params"]["fc"]["bias"].
pytorch-fid computes no logits.

Weights. `load_inception(path=None)` reads the .npz written by
`jaxgan convert inception --pth pt_inception-2015-12-05-6726825d.pth` (see
jaxgan/models/inception_convert.py), from `path`, else $JAXGAN_INCEPTION_WEIGHTS, else
~/.cache/jaxgan/inception_fid.npz. Flax layout: {"params", "batch_stats"}, module names as
in the PyTorch state_dict (Mixed_6b/branch7x7_2/conv/kernel <- Mixed_6b.branch7x7_2.conv.weight).

Numerics. Convolutions, the classifier and the resize run at Precision.HIGHEST, so GPUs
and TPUs compute true float32 rather than TF32/bfloat16 passes. Measured on an H200
against the fixture: 2e-6 relative at HIGHEST (2,600 images/s), 1.3e-3 at the default
precision (12,900 images/s), which would fail the 1e-4 agreement we test for.

Devices. Put the weights on the devices once (e.g. `jax.device_put(weights,
NamedSharding(mesh, P()))`) and shard the images' batch axis; uncommitted weights are
copied to every device on every call.
"""

import functools
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax import lax

from jaxgan.errors import UsageError

INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008
BN_EPS = 1e-3
PREPROCESS_MODES = ("pytorch_fid", "tf1")

PTH_NAME = "pt_inception-2015-12-05-6726825d.pth"
PTH_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + PTH_NAME)
WEIGHTS_ENV = "JAXGAN_INCEPTION_WEIGHTS"
DEFAULT_WEIGHTS = os.path.join("~", ".cache", "jaxgan", "inception_fid.npz")
FORMAT = "jaxgan-inception-fid-v1"  # stored in the .npz under FORMAT_KEY

FORMAT_KEY = "__format__"
SOURCE_KEY = "__source_sha256__"

_HIGHEST = lax.Precision.HIGHEST
Variables = Any

# --- Network ---------------------------------------------------------------------------------


class BasicConv(nn.Module):
  """Conv (no bias) -> BatchNorm(eps 0.001, running statistics) -> ReLU."""
  features: int
  kernel: tuple[int, int] = (1, 1)
  stride: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    (ph, pw), s = self.padding, self.stride
    x = nn.Conv(self.features, self.kernel, strides=(s, s), padding=((ph, ph), (pw, pw)),
                use_bias=False, precision=_HIGHEST, name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name="bn")(x)
    return nn.relu(x)


def _avg_pool_same(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average over the valid pixels only (TensorFlow SAME; count_include_pad=False)."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class InceptionA(nn.Module):
  """Mixed_5b/c/d (35x35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""
  pool_features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b1 = BasicConv(64, name="branch1x1")(x)
    b5 = BasicConv(48, name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a (35x35 -> 17x17): 3x3/2 | 1x1-3x3-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = BasicConv(384, (3, 3), stride=2, name="branch3x3")(x)
    bd = BasicConv(64, name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), stride=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_s2(x)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b-e (17x17): factorised 7x7 convolutions, avg pool-1x1."""
  channels_7x7: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = self.channels_7x7
    row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, name="branch1x1")(x)
    b7 = BasicConv(c, name="branch7x7_1")(x)
    b7 = BasicConv(c, **row, name="branch7x7_2")(b7)
    b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
    bd = BasicConv(c, name="branch7x7dbl_1")(x)
    bd = BasicConv(c, **col, name="branch7x7dbl_2")(bd)
    bd = BasicConv(c, **row, name="branch7x7dbl_3")(bd)
    bd = BasicConv(c, **col, name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, name="branch_pool")(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a (17x17 -> 8x8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b3 = BasicConv(192, name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), stride=2, name="branch3x3_2")(b3)
    b7 = BasicConv(192, name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), stride=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_s2(x)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b/c (8x8): 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1.

  The FID graph pools by average (padding excluded) in Mixed_7b and by max in Mixed_7c.
  """
  max_pool: bool

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
    b1 = BasicConv(320, name="branch1x1")(x)
    b3 = BasicConv(384, name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv(384, **row, name="branch3x3_2a")(b3),
                          BasicConv(384, **col, name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv(448, name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv(384, **row, name="branch3x3dbl_3a")(bd),
                          BasicConv(384, **col, name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.max_pool:
      pooled = nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
    else:
      pooled = _avg_pool_same(x)
    bp = BasicConv(192, name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class Classifier(nn.Module):
  """The 2048 -> 1008 linear layer; returns (x @ kernel, bias) so callers choose the bias."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], NUM_CLASSES))
    bias = self.param("bias", nn.initializers.zeros, (NUM_CLASSES,))
    return jnp.dot(x, kernel, precision=_HIGHEST), bias


class InceptionV3(nn.Module):
  """Preprocessed images (N, H, W, 3) in [-1, 1] (299x299 for FID) -> (pool3, unbiased logits)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = BasicConv(32, (3, 3), stride=2, name="Conv2d_1a_3x3")(x)           # 149x149x32
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)                     # 147x147x32
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)     # 147x147x64
    x = _max_pool_s2(x)                                                     # 73x73x64
    x = BasicConv(80, name="Conv2d_3b_1x1")(x)                             # 73x73x80
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)                    # 71x71x192
    x = _max_pool_s2(x)                                                     # 35x35x192
    x = InceptionA(32, name="Mixed_5b")(x)                                 # 35x35x256
    x = InceptionA(64, name="Mixed_5c")(x)                                 # 35x35x288
    x = InceptionA(64, name="Mixed_5d")(x)                                 # 35x35x288
    x = InceptionB(name="Mixed_6a")(x)                                     # 17x17x768
    x = InceptionC(128, name="Mixed_6b")(x)
    x = InceptionC(160, name="Mixed_6c")(x)
    x = InceptionC(160, name="Mixed_6d")(x)
    x = InceptionC(192, name="Mixed_6e")(x)                                # 17x17x768
    x = InceptionD(name="Mixed_7a")(x)                                     # 8x8x1280
    x = InceptionE(max_pool=False, name="Mixed_7b")(x)                     # 8x8x2048
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)                      # 8x8x2048
    pool3 = jnp.mean(x, axis=(1, 2))                                        # (N, 2048)
    logits, _ = Classifier(name="fc")(pool3)                                # (N, 1008)
    return pool3, logits


# --- Preprocessing ---------------------------------------------------------------------------


def _resize_matrix(n_in: int, n_out: int, mode: str) -> np.ndarray:
  """(n_out, n_in) float32 matrix of 1-D bilinear interpolation weights.

  Coordinates are computed in float32, as both references do: PyTorch's CPU/GPU upsample
  kernels (opmath float for float inputs) and torch-fidelity's TF1 reimplementation.
  """
  dst = np.arange(n_out, dtype=np.float32)
  scale = np.float32(n_in) / np.float32(n_out) if mode == "pytorch_fid" else np.float32(n_in / n_out)
  if mode == "pytorch_fid":  # half-pixel centres; negative sources clamp to the first pixel
    src = np.maximum(scale * (dst + np.float32(0.5)) - np.float32(0.5), np.float32(0))
  else:                      # TF1 ResizeBilinear: corners aligned to the top-left pixel
    src = dst * scale
  lo = np.floor(src).astype(np.int64)
  frac = np.clip(src - lo.astype(np.float32), 0, 1)
  hi = np.minimum(lo + 1, n_in - 1)
  lo = np.minimum(lo, n_in - 1)
  m = np.zeros((n_out, n_in), np.float32)
  np.add.at(m, (np.arange(n_out), lo), 1 - frac)
  np.add.at(m, (np.arange(n_out), hi), frac)
  return m


def resize_bilinear(x: jax.Array, size: int = INPUT_SIZE, *, mode: str = "pytorch_fid") -> jax.Array:
  """(N, H, W, C) float -> (N, size, size, C), bilinear, no antialiasing, `mode` coordinates."""
  if mode not in PREPROCESS_MODES:
    raise UsageError(f"unknown Inception preprocess {mode!r}; valid: {', '.join(PREPROCESS_MODES)}")
  _, h, w, _ = x.shape
  if (h, w) == (size, size):  # both conventions map a pixel onto itself exactly
    return x
  rows, cols = _resize_matrix(h, size, mode), _resize_matrix(w, size, mode)
  x = jnp.einsum("oh,nhwc->nowc", rows, x, precision=_HIGHEST)
  return jnp.einsum("pw,nowc->nopc", cols, x, precision=_HIGHEST)


def preprocess_images(images: jax.Array, mode: str = "pytorch_fid") -> jax.Array:
  """uint8 / [0, 1] float images (N, H, W, 1 or 3) -> (N, 299, 299, 3) float32 as the graph expects."""
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise UsageError(f"Inception expects images (N, H, W, 3) or (N, H, W, 1), got {images.shape}")
  if mode not in PREPROCESS_MODES:
    raise UsageError(f"unknown Inception preprocess {mode!r}; valid: {', '.join(PREPROCESS_MODES)}")
  if images.dtype == jnp.uint8:
    x, peak = images.astype(jnp.float32), 255.0
  elif jnp.issubdtype(images.dtype, jnp.floating):
    x, peak = images.astype(jnp.float32), 1.0
  else:
    raise UsageError(f"Inception expects uint8 or float images in [0, 1], got {images.dtype}")
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  if mode == "tf1":  # the TF graph resizes values in [0, 255], then maps them by (x - 128) / 128
    x = x if peak == 255.0 else x * 255.0
    return (resize_bilinear(x, mode=mode) - 128.0) / 128.0
  x = x if peak == 1.0 else x / 255.0  # ToTensor's u8 / 255, before the resize as in pytorch-fid
  return 2.0 * resize_bilinear(x, mode=mode) - 1.0


@functools.partial(jax.jit, static_argnames=("mode",))
def _preprocess(images: jax.Array, mode: str) -> jax.Array:
  return preprocess_images(images, mode)


@jax.jit
def apply_network(weights: Variables, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Preprocessed (N, 299, 299, 3) -> (pool3, unbiased logits); compiled once per batch size."""
  return InceptionV3().apply(weights, x)


def inception_features(weights: Variables, images: jax.Array, *,
                       preprocess: str = "pytorch_fid") -> tuple[jax.Array, jax.Array]:
  """Images -> (pool3 (N, 2048), unbiased logits (N, 1008)), both float32.

  Two jitted stages: the resize compiles per input shape (cheap), the network once per
  batch size, whatever the image size. Keep the batch size fixed (pad the last batch and
  drop the padded rows) to compile the network once. Traceable, so it also runs inside
  a caller's jit.

  Args:
    weights: {"params", "batch_stats"} from `load_inception` (or `inception_convert`).
    images: (N, H, W, 3|1), uint8 in [0, 255] or float in [0, 1]; any H, W.
    preprocess: "pytorch_fid" or "tf1" (see the module docstring).
  Returns:
    pool3: the 2048 features after the global average pool (FID/KID).
    logits: pool3 @ fc kernel, without the fc bias (Inception Score).
  """
  return apply_network(weights, _preprocess(images, preprocess))


# --- Weights file -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def variable_shapes() -> dict[str, tuple[int, ...]]:
  """{'params/Mixed_5b/branch1x1/conv/kernel': shape, ...} of the network's variables."""
  tree = jax.eval_shape(InceptionV3().init, jax.random.PRNGKey(0),
                        jax.ShapeDtypeStruct((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32))
  return {k: tuple(v.shape) for k, v in traverse_util.flatten_dict(tree, sep="/").items()}


def default_weights_path() -> str:
  """$JAXGAN_INCEPTION_WEIGHTS, else ~/.cache/jaxgan/inception_fid.npz."""
  return os.path.expanduser(os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS)


def how_to_get_weights(path: str) -> str:
  return (f"download {PTH_URL} and run `jaxgan convert inception --pth {PTH_NAME} --out {path}`"
          f" (or set ${WEIGHTS_ENV} to a converted file)")


def check_variables(flat: dict[str, np.ndarray], what: str) -> None:
  """Raises UsageError unless `flat` holds exactly the network's variables with their shapes."""
  expected = variable_shapes()
  missing = sorted(set(expected) - set(flat))
  extra = sorted(set(flat) - set(expected))
  wrong = sorted(k for k in set(expected) & set(flat) if tuple(np.shape(flat[k])) != expected[k])
  if missing or extra or wrong:
    detail = "; ".join(f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                       for label, names in (("missing", missing), ("unexpected", extra),
                                            ("wrong shape", wrong)) if names)
    raise UsageError(f"{what} is not the FID Inception-v3 ({detail})")


def unflatten(flat: dict[str, np.ndarray]) -> dict:
  return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})


def load_inception(path: str | None = None) -> Variables:
  """The converted FID Inception weights as device arrays {"params", "batch_stats"}.

  Looks at `path`, else $JAXGAN_INCEPTION_WEIGHTS, else ~/.cache/jaxgan/inception_fid.npz;
  a missing or foreign file raises UsageError saying how to make it.
  """
  path = os.path.expanduser(path) if path else default_weights_path()
  if not os.path.isfile(path):
    raise UsageError(f"FID Inception weights not found at {path}: {how_to_get_weights(path)}")
  try:
    with np.load(path, allow_pickle=False) as data:
      fmt = str(data[FORMAT_KEY]) if FORMAT_KEY in data.files else None
      flat = {k: data[k] for k in data.files if not k.startswith("__")}
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read FID Inception weights {path}: {e}") from e
  if fmt != FORMAT:
    raise UsageError(f"{path} is not a jaxgan FID Inception file (format {fmt!r}, expected "
                     f"{FORMAT!r}): {how_to_get_weights(path)}")
  check_variables(flat, path)
  return jax.device_put(unflatten({k: v.astype(np.float32) for k, v in flat.items()}))
