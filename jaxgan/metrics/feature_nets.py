"""Feature networks for FID-style metrics: small embedded classifiers, and the FID Inception.

Every network maps uint8 images (N, H, W, C) of any size to (features, logits):
features (N, D) feed FD/KID/precision-recall, logits (N, K) the Inception Score.

Embedded networks (weights in jaxgan/metrics/weights/, trained by
scripts/train_feature_nets.py on the embedded datasets):
  digits  a 10-class classifier of scikit-learn's 8x8 digits; 64 features; IS over digits.
  faces   a face / not-face classifier of scikit-image's LFW patches (100 faces, 100 other
          patches); 64 features. Its two classes say nothing about diversity, so no IS.

Their preprocessing, the same at training and evaluation: RGB becomes grey (ITU-R 601
luma), values map to [-1, 1], and the image is resized to the network's input side
(16 for digits, 32 for faces) with jax.image.resize "linear" with antialias=True:
bilinear when enlarging and a triangle (area-like) filter when shrinking, which is
what the training pipeline's tf.image.resize(bilinear, antialias=True) does.
Features are the penultimate layer (a 64-unit dense layer with swish, smooth so no
unit is constantly 0 and the covariance stays full rank), divided by a constant stored
with the weights that makes the real data's mean x.x/D equal 1: KID's kernel
(x.y/D + 1)^3 then works at the scale it was designed for, as with Inception features.

`inception` is the FID Inception-v3 of jaxgan.models.inception (2048 pool3 features,
1008 unbiased logits, pytorch-fid's resize to 299x299); it needs converted weights.
"""

import dataclasses
import functools
import hashlib
import json
import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import UsageError

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
FORMAT = "jaxgan-feature-net-v1"


@dataclasses.dataclass(frozen=True)
class NetSpec:
  """Architecture and input of an embedded feature network."""
  input_size: int            # images are resized to input_size x input_size
  num_classes: int
  widths: tuple[int, ...] = (16, 32, 32)  # conv widths; all but the first halve the side
  feature_dim: int = 64
  scores_classes: bool = True  # whether its classes make the Inception Score meaningful


EMBEDDED_SPECS = {
    "digits": NetSpec(input_size=16, num_classes=10),
    "faces": NetSpec(input_size=32, num_classes=2, widths=(16, 32, 32, 32), scores_classes=False),
}
FEATURE_NETS = (*EMBEDDED_SPECS, "inception")


class ConvClassifier(nn.Module):
  """Small CNN: 3x3 convs (stride 2 after the first), dense features, class logits."""
  spec: NetSpec

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    for i, width in enumerate(self.spec.widths):
      x = nn.swish(nn.Conv(width, (3, 3), strides=1 if i == 0 else 2, name=f"conv{i}")(x))
    features = nn.swish(nn.Dense(self.spec.feature_dim, name="features")(x.reshape(x.shape[0], -1)))
    return features, nn.Dense(self.spec.num_classes, name="logits")(features)


def preprocess(images: jax.Array, size: int) -> jax.Array:
  """uint8 (N, H, W, 1|3) -> float32 (N, size, size, 1) in [-1, 1] (see module doc)."""
  x = images.astype(jnp.float32) / 255.0
  if x.shape[-1] == 3:
    x = x @ jnp.array([0.299, 0.587, 0.114], jnp.float32)[:, None]
  elif x.shape[-1] != 1:
    raise ValueError(f"expected 1 or 3 channels, got images of shape {images.shape}")
  if x.shape[1:3] != (size, size):
    x = jax.image.resize(x, (x.shape[0], size, size, 1), "linear", antialias=True)
  return x * 2.0 - 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureNet:
  """A feature network ready to run: apply(variables, uint8 images) -> (features, logits)."""
  name: str
  variables: Any
  apply: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array]]
  resize: str                # how images reach the network's input (part of stats keys)
  weights_id: str            # digest of the weights (part of stats keys)
  scores_classes: bool       # whether the logits make a meaningful Inception Score

  def identity(self) -> dict[str, str]:
    """What reference statistics depend on, besides the data."""
    return {"feature_net": self.name, "feature_weights": self.weights_id, "resize": self.resize}


def embedded_weights_path(name: str) -> str:
  return os.path.join(WEIGHTS_DIR, f"{name}_features.npz")


def save_embedded(name: str, params: Any, feature_scale: float, meta: dict,
                  path: str | None = None) -> str:
  """Writes an embedded net's params (flattened 'a/b' keys), feature scale, format, metadata."""
  from flax import traverse_util
  path = path or embedded_weights_path(name)
  flat = {k: np.asarray(v, np.float32)
          for k, v in traverse_util.flatten_dict(params, sep="/").items()}
  tmp = path[: -len(".npz")] + ".partial.npz"
  np.savez(tmp, __format__=np.array(FORMAT), __meta__=np.array(json.dumps(meta, sort_keys=True)),
           __feature_scale__=np.float32(feature_scale), **flat)
  os.replace(tmp, path)
  return path


def _digest(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()[:16]


@functools.cache
def _load_embedded(name: str) -> FeatureNet:
  from flax import traverse_util
  spec, path = EMBEDDED_SPECS[name], embedded_weights_path(name)
  if not os.path.isfile(path):
    raise UsageError(f"feature net {name!r} weights {path} are missing; "
                     "run scripts/train_feature_nets.py")
  with np.load(path, allow_pickle=False) as data:
    if "__format__" not in data.files or str(data["__format__"]) != FORMAT:
      raise UsageError(f"{path} is not a jaxgan feature net file ({FORMAT})")
    params = traverse_util.unflatten_dict(
        {tuple(k.split("/")): data[k] for k in data.files if not k.startswith("__")})
    scale = float(data["__feature_scale__"])
  module = ConvClassifier(spec)
  expected = jax.eval_shape(module.init, jax.random.PRNGKey(0),
                            jnp.zeros((1, spec.input_size, spec.input_size, 1)))["params"]
  if jax.tree.structure(expected) != jax.tree.structure(params) or any(
      a.shape != b.shape for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(params))):
    raise UsageError(f"{path} does not fit the {name!r} feature net architecture")

  def apply(variables, images):
    features, logits = module.apply(variables, preprocess(images, spec.input_size))
    return features / scale, logits

  return FeatureNet(name=name, variables={"params": jax.device_put(params)}, apply=apply,
                    resize=f"grey,jax.image.resize(linear,antialias)->{spec.input_size}",
                    weights_id=_digest(path), scores_classes=spec.scores_classes)


def _load_inception(weights_path: str | None) -> FeatureNet:
  try:
    from jaxgan.models import inception
  except ImportError:
    raise UsageError("feature net 'inception' is not available in this jaxgan "
                     "(jaxgan.models.inception is missing)") from None
  path = os.path.expanduser(weights_path) if weights_path else inception.default_weights_path()
  if not os.path.isfile(path):
    how = getattr(inception, "how_to_get_weights", lambda p: "run `jaxgan convert inception`")
    raise UsageError(f"FID Inception weights file {path} is missing: {how(path)}")
  variables = inception.load_inception(path)
  mode = "pytorch_fid"

  def apply(variables, images):
    return inception.inception_features(variables, images, preprocess=mode)

  return FeatureNet(name="inception", variables=variables, apply=apply,
                    resize=f"inception:{mode}->299", weights_id=_digest(path), scores_classes=True)


def load_feature_net(name: str, *, inception_weights: str | None = None) -> FeatureNet:
  """The feature network called `name` (one of FEATURE_NETS).

  Args:
    name: "digits", "faces" or "inception".
    inception_weights: converted Inception .npz; default $JAXGAN_INCEPTION_WEIGHTS, else
      ~/.cache/jaxgan/inception_fid.npz.
  Returns:
    The FeatureNet.
  Raises:
    UsageError: unknown name, or its weights are missing.
  """
  if name == "inception":
    return _load_inception(inception_weights)
  if name not in EMBEDDED_SPECS:
    raise UsageError(f"unknown feature net {name!r}; valid: {', '.join(FEATURE_NETS)}")
  return _load_embedded(name)
