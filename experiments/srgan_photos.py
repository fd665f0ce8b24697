"""SRGAN x4 at CPU size on the embedded photographs (no download): a narrow SRResNet
(width 32, 4 residual blocks) and SRGAN D, MSE + 1e-3 adversarial, on 96x96 HR crops
(24x24 LR) of eight of the ten packaged photos; the last two are held out
(`jaxgan upscale --evaluate` on them gives PSNR beside bicubic's).

No VGG loss: its ImageNet weights cannot be downloaded here (srgan_div2k.py uses them).
Trains in minutes on a 2-core CPU.
"""

import ml_collections
import srresnet_div2k


def get_config():
  c = srresnet_div2k.get_config()
  c.dataset = "packaged_photos"      # embedded TFDS builder (jaxgan/data/embedded.py)
  c.split = "train[:8]"
  c.image_key = "image"
  c.input_key = ""                   # LR = bicubic / 4 of the HR crop (data/superres.py)
  c.shuffle_buffer = 8
  c.model = ml_collections.ConfigDict(dict(name="srgan", g_width=32, num_blocks=4, d_width=16,
                                           dense_width=128))
  c.superres.update(dict(pixel_loss="mse", pixel_weight=1.0, perceptual_layer="",
                         adv_weight=1e-3))
  c.batch_size = 8
  c.num_train_steps = 1500
  c.log_every_steps = 50
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 500
  c.num_samples = 8
  return c
