"""`jaxgan generate`: samples of a trained run's generator to .npz (and a PNG grid)."""

import os

import numpy as np

from jaxgan import config as config_lib
from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.errors import UsageError
from jaxgan.train import checkpoint as checkpoint_lib


def load_run(workdir: str):
  """(config, state) of the latest checkpoint in `workdir`; UsageError if there is none."""
  from jaxgan.train import loop, parallel
  if not os.path.isdir(workdir):
    raise UsageError(f"workdir {workdir!r} does not exist or is not a directory")
  config_path = os.path.join(workdir, "config.json")
  if not os.path.isfile(config_path):
    raise UsageError(f"workdir {workdir!r} holds no jaxgan run (no config.json)")
  if checkpoint_lib.latest_step(workdir) is None:
    raise UsageError(f"workdir {workdir!r} has no checkpoint yet; train first")
  with open(config_path) as f:
    config = config_lib.from_json(f.read())
  gan = loop.build_gan(config)
  import jax
  # One device is enough to sample, and sample i does not depend on the device count.
  state = loop.restore_state(workdir, config, gan, parallel.make_mesh(jax.local_devices()[:1]))
  return config, gan, state


def _save_npz_atomic(path: str, **arrays) -> None:
  tmp = path[: -len(".npz")] + ".partial.npz"
  np.savez(tmp, **arrays)
  os.replace(tmp, path)


def parse_labels(text: str | None) -> list[int] | None:
  """'3' or '0,1,2' -> [3] or [0, 1, 2] (cycled over the samples); None passes through."""
  if text is None:
    return None
  try:
    labels = [int(t) for t in text.split(",") if t.strip()]
  except ValueError:
    raise UsageError(f"--labels must be comma-separated class numbers, got {text!r}") from None
  if not labels:
    raise UsageError("--labels is empty")
  return labels


def _labels_for(gan, labels: list[int] | None, num: int) -> np.ndarray | None:
  """(num,) int32 labels: the given ones cycled, or i mod K; None for unconditional G."""
  k = gan.num_classes
  if not k:
    if labels is not None:
      raise UsageError("--labels needs a class-conditional model; this run's is unconditional")
    return None
  if labels is None:
    return sampling.default_labels(gan.generator, np.arange(num))
  bad = [y for y in labels if not 0 <= y < k]
  if bad:
    raise UsageError(f"--labels {bad[0]} is not a class of this model (0..{k - 1})")
  return np.resize(np.asarray(labels, np.int32), num)


def generate_to_files(workdir: str, *, num: int, out: str, seed: int = 0,
                      grid: str | None = None, labels: list[int] | None = None) -> np.ndarray:
  """Writes `num` samples to `out` and returns them.

  Image models: `images`, uint8 (N, H, W, C). 2-D toy models: `samples`, float32 (N, 2).
  Class-conditional models also write `labels`, int32 (N,): the classes asked for (the
  given `labels` cycled, by default i mod num_classes). The EMA generator is used when
  the run keeps one.
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise UsageError(f"output folder {out_dir!r} does not exist")
  config, gan, state = load_run(workdir)
  from jaxgan.train import build
  if build.is_image_model(config):
    raise UsageError(f"this run's model ({config.model.name}) takes images, not noise; use "
                     f"`jaxgan {build.edit_command(config)} --workdir ... --input IMAGES --out FOLDER`")
  y = _labels_for(gan, labels, num)
  from jaxgan.train.state import sampling_params
  samples = sampling.generate_samples(gan.generator, sampling_params(state), state.g.batch_stats,
                                      num=num, seed=seed, labels=y)
  extra = {} if y is None else {"labels": y}
  if samples.ndim == 2:  # 2-D points
    _save_npz_atomic(out, samples=samples.astype(np.float32), **extra)
    if grid:
      image_lib.save_png(grid, image_lib.to_uint8(np.asarray(sampling.scatter_preview(samples)))[0])
    return samples
  images = image_lib.to_uint8(samples)
  _save_npz_atomic(out, images=images, **extra)
  if grid:
    image_lib.save_png(grid, image_lib.make_grid(images))
  return images
