"""Tiny configs for fast tests."""

import os

import ml_collections
import numpy as np

from jaxgan import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir: str, **overrides) -> ml_collections.ConfigDict:
  """experiments/dcgan_digits.py shrunk: 16x16, width 4, batch 8, 4 steps."""
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "dcgan_digits.py"))
  c.data_dir = data_dir
  c.image_size = 16
  c.model.g_width = 4
  c.model.d_width = 4
  c.batch_size = 8
  c.num_train_steps = 4
  c.log_every_steps = 2
  c.sample_every_steps = 2
  c.checkpoint_every_steps = 2
  c.num_samples = 4
  c.progress_bar = False
  for k, v in overrides.items():
    c[k] = v
  return c


def set_fields(c: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
  """c with overrides applied; a key "group.field" sets a field of a group."""
  for k, v in overrides.items():
    group, _, field = k.rpartition(".")
    (c[group] if group else c)[field] = v
  return c


def translation_batch(c: ml_collections.ConfigDict, seed: int = 0) -> dict:
  """A random batch for an image-to-image step: 'input' (C_in channels), 'image' (C)."""
  rng = np.random.default_rng(seed)
  shape = (c.batch_size, c.image_size, c.image_size)
  return {"input": rng.uniform(-1, 1, (*shape, c.input_channels)).astype(np.float32),
          "image": rng.uniform(-1, 1, (*shape, c.channels)).astype(np.float32)}
