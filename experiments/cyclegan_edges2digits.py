"""CycleGAN at CPU size on unpaired slices of the embedded edges2digits (32x32 greyscale).

Domain A: the edge maps of the first 800 digits; domain B: 800 *other* digits, filled; no
A image has its own B. The last 197 pairs stay out of both, so a trained G_A can be judged
on pairs it never saw (scripts/evaluate_pix2pix_digits.py reads either kind of run).
"""

import cyclegan_horse2zebra


def get_config():
  c = cyclegan_horse2zebra.get_config()
  c.dataset = "edges2digits"         # embedded TFDS builder (jaxgan/data/embedded.py)
  c.split_a, c.key_a = "train[:800]", "input"
  c.split_b, c.key_b = "train[800:1600]", "image"
  c.image_size = 32
  c.load_size = 32
  c.flip = False
  c.channels = 1
  c.input_channels = 1
  c.shuffle_buffer = 800
  c.model.update(dict(g_width=16, d_width=16, num_blocks=4, d_layers=2))
  c.batch_size = 4                   # the authors' 1 is slow on a CPU; InstanceNorm: no batch effect
  c.num_train_steps = 3000
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(decay_start=1500, decay_steps=1500))
  c.log_every_steps = 50
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 500
  c.num_samples = 8
  return c
