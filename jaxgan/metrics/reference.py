"""Reference statistics of real data: computed once per key, cached on disk, checked on load.

The key names everything the numbers depend on: dataset, split, image key, resolution and
channels (how the training pipeline decodes, crops and resizes), the feature network and
its weights, the network's resize, and the number of images. It is stored inside the file
and compared on load, so statistics of another split, size or resize are never reused;
a file whose key differs is recomputed (with a warning) and replaced atomically.

Cache folder: the `stats_dir` argument, else $JAXGAN_STATS_DIR, else $JAXGAN_CACHE/stats,
else ~/.cache/jaxgan/stats.
"""

import dataclasses
import hashlib
import json
import os
import re
import sys
from typing import Iterator

import numpy as np

from jaxgan import images as image_lib
from jaxgan.errors import UsageError
from jaxgan.metrics import features as features_lib
from jaxgan.metrics.feature_nets import FeatureNet
from jaxgan.metrics.frechet import gaussian_stats

FORMAT = "jaxgan-reference-stats-v1"
DEFAULT_MAX_COUNT = 50_000  # "fid50k_full"-style: every real image, up to 50k
# How the real images reach uint8 at the run's resolution (jaxgan.data.pipeline).
SOURCE_PREPROCESS = "centre-crop,tf.image.resize(bilinear,antialias)->image_size,to_uint8"


@dataclasses.dataclass(frozen=True)
class ReferenceStats:
  """Features of `count` real images and their Gaussian statistics."""
  key: dict
  features: np.ndarray       # (N, D) float32
  logits: np.ndarray         # (N, K) float32
  mu: np.ndarray             # (D,) float64
  sigma: np.ndarray          # (D, D) float64


def default_stats_dir() -> str:
  if os.environ.get("JAXGAN_STATS_DIR"):
    return os.path.expanduser(os.environ["JAXGAN_STATS_DIR"])
  cache = os.environ.get("JAXGAN_CACHE", "~/.cache/jaxgan")  # also where image scans go
  return os.path.join(os.path.expanduser(cache), "stats")


def stats_key(config, net: FeatureNet, count: int) -> dict:
  """The identity of the reference statistics of `config`'s real data under `net`."""
  return {"format": FORMAT, "dataset": str(config.dataset), "split": str(config.split),
          "image_key": str(config.get("image_key", "image")),
          "image_size": int(config.image_size), "channels": int(config.get("channels", 3)),
          "source_preprocess": SOURCE_PREPROCESS, **net.identity(), "count": int(count)}


def stats_path(key: dict, stats_dir: str) -> str:
  """A readable, key-unique file name."""
  digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
  slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{key['dataset']}_{key['split']}").strip("-")[-40:]
  return os.path.join(stats_dir, f"{slug}_{key['image_size']}px_{key['feature_net']}_"
                                 f"{key['count']}_{digest}.npz")


def real_image_batches(config, batch_size: int, max_count: int | None = None
                       ) -> tuple[Iterator[np.ndarray], int]:
  """(uint8 (b, H, W, C) batches of the real data in dataset order, how many images in all).

  The images are decoded, cropped and resized exactly as for training, then quantised to
  uint8 like generated samples, so the two sides differ only in where they come from.
  """
  from jaxgan.data import pipeline  # TensorFlow only when real data is read
  records, total = pipeline._encoded_records(config)
  count = min(total, max_count) if max_count else total
  if count < 2:
    raise UsageError(f"dataset {config.dataset!r} split {config.split!r} has {total} images; "
                     "reference statistics need at least 2")
  size, channels = config.image_size, config.get("channels", 3)
  ds = records.take(count).map(lambda r: pipeline.preprocess_image(r["encoded"], size, channels))
  ds = ds.batch(batch_size).prefetch(2)

  def batches():
    for x in pipeline.numpy_batches(ds):
      yield image_lib.to_uint8(x)
  return batches(), count


def save_stats(path: str, stats: ReferenceStats) -> None:
  """Atomic write: a crash leaves the old file or none, never half of one."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path[: -len('.npz')]}.tmp{os.getpid()}.npz"
  np.savez(tmp, key=np.array(json.dumps(stats.key, sort_keys=True)), features=stats.features,
           logits=stats.logits, mu=stats.mu, sigma=stats.sigma)
  os.replace(tmp, path)


def load_stats(path: str, expected_key: dict) -> ReferenceStats:
  """Reads `path`; UsageError unless its stored key equals `expected_key`."""
  try:
    with np.load(path, allow_pickle=False) as data:
      key = json.loads(str(data["key"]))
      arrays = {k: data[k] for k in ("features", "logits", "mu", "sigma")}
  except (OSError, ValueError, KeyError) as e:
    raise UsageError(f"cannot read reference statistics {path}: {e}") from None
  if key != expected_key:
    diff = sorted(k for k in set(key) | set(expected_key) if key.get(k) != expected_key.get(k))
    raise UsageError(f"reference statistics {path} were computed for another setting ("
                     + ", ".join(f"{k}: {key.get(k)!r} != {expected_key.get(k)!r}" for k in diff)
                     + ")")
  return ReferenceStats(key=key, **arrays)


def reference_stats(config, net: FeatureNet, *, stats_dir: str | None = None,
                    max_count: int | None = DEFAULT_MAX_COUNT, batch_size: int = 500,
                    mesh=None) -> ReferenceStats:
  """The cached reference statistics of `config`'s real data, computed if absent.

  Args:
    config: a run config (dataset, split, data_dir, image_key, image_size, channels).
    net: the feature network.
    stats_dir: cache folder (see module doc).
    max_count: use the first min(all, max_count) images of the split; None = all.
    batch_size: images per feature-extraction step.
    mesh: the 1-D device mesh for extraction (default: all devices).
  Returns:
    The ReferenceStats.
  """
  stats_dir = stats_dir or default_stats_dir()
  batches, count = real_image_batches(config, batch_size, max_count)
  key = stats_key(config, net, count)
  path = stats_path(key, stats_dir)
  if os.path.isfile(path):
    try:
      return load_stats(path, key)
    except UsageError as e:
      print(f"jaxgan: warning: {e}; recomputing", file=sys.stderr)
  feats, logits = features_lib.Extractor(net, batch_size=batch_size, mesh=mesh).run(batches)
  mu, sigma = gaussian_stats(feats)
  stats = ReferenceStats(key=key, features=feats, logits=logits, mu=mu, sigma=sigma)
  try:
    save_stats(path, stats)
  except OSError as e:  # a read-only cache only costs recomputing next time
    print(f"jaxgan: warning: cannot cache reference statistics in {path}: {e}", file=sys.stderr)
  return stats
