"""2-D Gaussian mixtures of the mode-collapse benchmark (VEEGAN, PacGAN synthetic data).

  toy_ring: 8 Gaussians evenly spaced on the unit circle, std 0.01
  toy_grid: 25 Gaussians centred on {-4, -2, 0, 2, 4}^2, std 0.05
Each example picks a mode uniformly. No TensorFlow: batches are NumPy, and batch s of a
run is a function of (seed, s) alone, like the image pipeline's, so resume and any
process count see the same data.
"""

from typing import Iterator

import numpy as np

from jaxgan.errors import UsageError


def _ring() -> tuple[np.ndarray, float]:
  angles = 2 * np.pi * np.arange(8) / 8
  return np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01


def _grid() -> tuple[np.ndarray, float]:
  coords = np.arange(-4.0, 5.0, 2.0)
  xs, ys = np.meshgrid(coords, coords, indexing="ij")
  return np.stack([xs.ravel(), ys.ravel()], axis=1), 0.05


TOY_DATASETS = {"toy_ring": _ring, "toy_grid": _grid}


def is_toy(name: str) -> bool:
  return name in TOY_DATASETS


def modes(name: str) -> tuple[np.ndarray, float]:
  """(centres float64 (K, 2), std) of the mixture `name`."""
  if name not in TOY_DATASETS:
    raise UsageError(f"unknown 2-D dataset {name!r}; valid: {', '.join(TOY_DATASETS)}")
  return TOY_DATASETS[name]()


def sample(rng: np.random.Generator, name: str, n: int) -> np.ndarray:
  """n points float32 (n, 2) of the mixture `name`."""
  centres, std = modes(name)
  idx = rng.integers(0, len(centres), n)
  return (centres[idx] + std * rng.standard_normal((n, 2))).astype(np.float32)


def batch_for_step(name: str, seed: int, step: int, global_batch: int) -> np.ndarray:
  """The global batch of `step`: float32 (global_batch, 2), from (seed, step) alone."""
  return sample(np.random.default_rng([seed, step]), name, global_batch)


class ToyStream:
  """The training stream of one process, duck-typed as the tf.data.Dataset the loop
  reads (`as_numpy_iterator()`): {'image': float32 (b, 2), 'label': int32 (b,)}."""

  def __init__(self, name: str, *, seed: int, global_batch: int, process_index: int = 0,
               process_count: int = 1, start_step: int = 0):
    if global_batch % process_count:
      raise UsageError(f"batch_size={global_batch} is not divisible by the {process_count} "
                       "processes")
    modes(name)  # validates the name
    self.name, self.seed, self.global_batch = name, seed, global_batch
    self.local = global_batch // process_count
    self.offset = process_index * self.local
    self.start_step = start_step

  def as_numpy_iterator(self) -> Iterator[dict[str, np.ndarray]]:
    step = self.start_step
    while True:
      points = batch_for_step(self.name, self.seed, step, self.global_batch)
      yield {"image": points[self.offset:self.offset + self.local],
             "label": np.zeros((self.local,), np.int32)}
      step += 1


def make_stream(config, *, process_index: int = 0, process_count: int = 1,
                start_step: int = 0) -> ToyStream:
  return ToyStream(config.dataset, seed=int(config.seed), global_batch=config.batch_size,
                   process_index=process_index, process_count=process_count,
                   start_step=start_step)
