"""A tiny StyleGAN2 on the embedded digits at 32x32: the whole recipe of
stylegan2_ffhq256.py (lazy R1, path length, style mixing, EMA) at CPU size.

gamma follows the 'auto' heuristic 0.0002 * res^2 / batch; channels are narrow.
"""

import stylegan2_ffhq256

RES = 32
BATCH = 32


def get_config():
  c = stylegan2_ffhq256.get_config()
  c.dataset = "digits"             # embedded TFDS builder (jaxgan/data/embedded.py)
  c.image_size = RES
  c.channels = 1
  c.model.update(dict(latent_dim=64, w_dim=64, channel_base=1024, channel_max=64))
  c.stylegan2.update(dict(r1_gamma=0.0002 * RES ** 2 / BATCH, ema_kimg=BATCH * 10 / 32))
  c.batch_size = BATCH
  c.num_train_steps = 2000
  c.log_every_steps = 50
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 500
  return c
