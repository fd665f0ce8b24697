"""DCGAN on TFDS mnist (60,000 28x28 digits, resized to 32x32)."""

import dcgan_base


def get_config():
  c = dcgan_base.get_config()
  c.dataset = "mnist"
  c.image_size = 32
  c.channels = 1
  c.batch_size = 128
  c.num_train_steps = 10_000  # ~21 epochs
  return c
