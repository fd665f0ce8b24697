"""pix2pix at CPU size on the embedded edges2digits (edge map -> digit, 32x32 greyscale).

The facades recipe (pix2pix_facades.py) with a narrow U-Net and PatchGAN, batch 16,
and no crop jitter (the digits are centred): trains offline on a 2-core CPU in minutes.
"""

import pix2pix_facades


def get_config():
  c = pix2pix_facades.get_config()
  c.dataset = "edges2digits"         # embedded TFDS builder (jaxgan/data/embedded.py)
  c.split = "train[:1600]"           # the last 197 pairs are held out (scripts/evaluate_pix2pix_digits.py)
  c.direction = "AtoB"               # the 'input' feature (edges) -> the 'image' (digit)
  c.image_size = 32
  c.load_size = 32
  c.flip = False                     # digits are not mirror-symmetric
  c.channels = 1
  c.input_channels = 1
  c.shuffle_buffer = 2000
  c.model.update(dict(g_width=16, d_width=16, d_layers=2))
  c.batch_size = 16
  c.num_train_steps = 2000
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(decay_start=1000, decay_steps=1000))
  c.log_every_steps = 50
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 500
  c.num_samples = 16
  return c
