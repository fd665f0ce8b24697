"""DCGAN on the embedded faces: the 100 greyscale LFW faces scikit-image ships, at 32x32."""

import dcgan_base


def get_config():
  c = dcgan_base.get_config()
  c.dataset = "lfw_faces"
  c.image_size = 32
  c.channels = 1
  c.model.g_width = 32
  c.model.d_width = 32
  c.batch_size = 32
  c.num_train_steps = 2000
  return c
