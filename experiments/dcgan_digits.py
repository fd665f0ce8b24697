"""DCGAN on the embedded scikit-learn digits (1,797 8x8 images, upsampled to 32x32).

The default experiment: trains offline on a 2-core CPU in minutes, and its samples
are recognisable digits of every class (README, "Results").
"""

import dcgan_base


def get_config():
  c = dcgan_base.get_config()
  c.dataset = "digits"            # embedded TFDS builder (jaxgan/data/embedded.py)
  c.image_size = 32
  c.channels = 1
  c.model.g_width = 32            # narrower than the tutorial's 64: minutes on a CPU
  c.model.d_width = 32
  c.batch_size = 64
  c.num_train_steps = 2000
  return c
