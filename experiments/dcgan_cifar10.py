"""DCGAN on TFDS cifar10 (50,000 32x32 colour images)."""

import dcgan_base


def get_config():
  c = dcgan_base.get_config()
  c.dataset = "cifar10"
  c.image_size = 32
  c.channels = 3
  c.batch_size = 128
  c.num_train_steps = 50_000  # ~128 epochs
  return c
