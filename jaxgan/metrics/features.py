"""Streaming feature extraction: batches of uint8 images -> features and logits on the host.

Batches run through one jitted function sharded along the batch over a 1-D mesh of all
devices (weights replicated). Every batch is padded to the same size, so the network
compiles once per image shape, and the padded rows are dropped. While the devices work
on one batch, the host fetches the previous batch's results.
"""

from typing import Iterable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.metrics.feature_nets import FeatureNet

AXIS = "batch"


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh ('batch',) over `devices` (default: all of jax.devices())."""
  return Mesh(np.asarray(devices if devices is not None else jax.devices()), (AXIS,))


class Extractor:
  """Runs a FeatureNet over batches, data-parallel over a mesh.

  Args:
    net: the feature network.
    batch_size: images per step; rounded up to a multiple of the device count.
    mesh: a 1-D ('batch',) mesh; default make_mesh().
  """

  def __init__(self, net: FeatureNet, *, batch_size: int = 500, mesh: Mesh | None = None):
    if batch_size < 1:
      raise ValueError(f"batch_size must be positive, got {batch_size}")
    self.net = net
    self.mesh = mesh or make_mesh()
    self.batch_size = -(-batch_size // self.mesh.size) * self.mesh.size
    self._rows = NamedSharding(self.mesh, P(AXIS))
    replicated = NamedSharding(self.mesh, P())
    self._variables = jax.device_put(net.variables, replicated)
    self._apply = jax.jit(net.apply, in_shardings=(replicated, self._rows),
                          out_shardings=(self._rows, self._rows))

  def _launch(self, images: np.ndarray):
    n = images.shape[0]
    if n > self.batch_size:
      raise ValueError(f"batch of {n} images exceeds batch_size {self.batch_size}")
    if n < self.batch_size:  # pad so every step has one shape (one compilation)
      pad = np.zeros((self.batch_size - n, *images.shape[1:]), images.dtype)
      images = np.concatenate([images, pad])
    return n, self._apply(self._variables, jax.device_put(images, self._rows))

  def batches(self, batches: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields (features, logits) float32 per input batch (each at most batch_size images)."""
    pending = None
    for images in batches:
      images = np.asarray(images)
      if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 (N, H, W, C) images, got {images.dtype} {images.shape}")
      launched = self._launch(images)  # dispatch is asynchronous ...
      if pending is not None:
        yield _fetch(*pending)         # ... so this copy overlaps the device's work
      pending = launched
    if pending is not None:
      yield _fetch(*pending)

  def run(self, batches: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All (features (N, D), logits (N, K)) of a stream of uint8 batches."""
    feats, logits = [], []
    for f, l in self.batches(batches):
      feats.append(f)
      logits.append(l)
    if not feats:
      raise ValueError("no images to extract features from")
    return np.concatenate(feats), np.concatenate(logits)

  def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, logits) of one uint8 (N, H, W, C) array, in batches."""
    return self.run(images[s:s + self.batch_size] for s in range(0, len(images), self.batch_size))


def _fetch(n: int, out) -> tuple[np.ndarray, np.ndarray]:
  features, logits = out
  return np.asarray(features)[:n], np.asarray(logits)[:n]


def extract_features(net: FeatureNet, images: np.ndarray, *, batch_size: int = 500,
                     mesh: Mesh | None = None) -> tuple[np.ndarray, np.ndarray]:
  """(features (N, D), logits (N, K)) float32 of uint8 images (N, H, W, C), data-parallel."""
  return Extractor(net, batch_size=batch_size, mesh=mesh)(images)
