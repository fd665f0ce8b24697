"""DCGAN on the embedded scikit-learn digits (1,797 8x8 images, upsampled to 32x32).

The default experiment: trains offline on a 2-core CPU in a few minutes, and the
samples are recognisable digits of every class (see README, "Results").
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Data
  c.dataset = "digits"            # embedded TFDS builder (jaxgan/data/embedded.py)
  c.split = "train"
  c.data_dir = ""                 # TFDS data_dir; "" = TFDS's default (~/tensorflow_datasets)
  c.image_key = "image"
  c.label_key = "label"
  c.image_size = 32
  c.channels = 1
  c.shuffle_buffer = 10_000
  # Model: the PyTorch DCGAN tutorial's networks, narrower for a CPU.
  c.model = ml_collections.ConfigDict(dict(name="dcgan", latent_dim=100, g_width=32, d_width=32))
  c.compute_dtype = "float32"
  c.conv_impl = "auto"            # "auto": stride-1 rearrangements on CPU, native ops elsewhere
  c.loss = "dcgan"                # minimax D loss, non-saturating G loss
  c.optimizer_g = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, b2=0.999))
  c.optimizer_d = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, b2=0.999))
  # Schedule
  c.batch_size = 64               # global, over all devices and processes
  c.num_train_steps = 3000
  c.seed = 0
  c.log_every_steps = 100
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.num_samples = 64              # fixed-z sample grid size
  c.progress_bar = True
  return c
