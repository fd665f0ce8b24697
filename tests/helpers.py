"""Tiny configs for fast tests."""

import os

import ml_collections

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
