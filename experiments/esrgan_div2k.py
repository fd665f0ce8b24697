"""ESRGAN x4 (Wang et al. 2018): the GAN phase, from esrgan_psnr_div2k.py's run.

BasicSR's options/train/ESRGAN/train_ESRGAN_x4.yml: RRDBNet initialised from the PSNR
model (--config.init_generator_from=WORKDIR), VGG-style D for 128x128; L1 pixel loss
1e-2, L1 of VGG19 conv5_4 features (before the ReLU) 1.0, relativistic average GAN
5e-3; Adam 1e-4 (0.9, 0.99) for G and D, halved at 50k, 100k, 200k and 300k of 400k
updates; batch 16. Weights on [-1, 1] images: the pixel L1's 1e-2 is 5e-3 here.
"""

import esrgan_psnr_div2k


def get_config():
  c = esrgan_psnr_div2k.get_config()
  c.init_generator_from = ""         # the PSNR-oriented RRDBNet run's workdir (required)
  c.superres.update(dict(pixel_loss="l1", pixel_weight=5e-3, perceptual_layer="conv5_4",
                         perceptual_criterion="l1", perceptual_weight=1.0, adv_weight=5e-3,
                         relativistic=True,
                         perceptual_weights="~/weights/vgg19-dcbb9e9d.pth"))
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(lr=1e-4, milestones=[50_000, 100_000, 200_000, 300_000]))
  c.num_train_steps = 400_000
  return c
