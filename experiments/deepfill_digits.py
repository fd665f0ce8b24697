"""DeepFill v2 at CPU size on the embedded digits (32x32 greyscale, no download): a
narrow generator (cnum 16) and D (width 16), DeepFill's holes, batch 16. The last 197
digits are held out: scripts/evaluate_inpainting_digits.py asks a digit classifier
whether inpainted digits keep their class.
"""

import deepfill_places2


def get_config():
  c = deepfill_places2.get_config()
  c.dataset = "edges2digits"         # embedded; its 'image' feature: digits at 32x32
  c.split = "train[:1600]"
  c.image_key = "image"
  c.image_size = 32
  c.channels = 1
  c.shuffle_buffer = 2000
  c.model.update(dict(g_width=16, d_width=16))
  c.num_train_steps = 2000
  c.log_every_steps = 50
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 500
  c.num_samples = 16
  return c
