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


def generate_to_files(workdir: str, *, num: int, out: str, seed: int = 0,
                      grid: str | None = None) -> np.ndarray:
  """Writes `num` samples as `images` uint8 (N, H, W, C) to `out`; returns them."""
  workdir = os.path.abspath(os.path.expanduser(workdir))
  out_dir = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(out_dir):
    raise UsageError(f"output folder {out_dir!r} does not exist")
  _, gan, state = load_run(workdir)
  images = image_lib.to_uint8(sampling.generate_images(
      gan.generator, state.g.params, state.g.batch_stats, num=num, seed=seed))
  _save_npz_atomic(out, images=images)
  if grid:
    image_lib.save_png(grid, image_lib.make_grid(images))
  return images
