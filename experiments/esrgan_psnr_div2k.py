"""RRDBNet x4, the PSNR-oriented first phase of ESRGAN (Wang et al. 2018).

BasicSR's options/train/ESRGAN/train_RRDBNet_PSNR_x4.yml (the authors' code): RRDBNet
(23 RRDBs, 64 features, growth 32), L1 loss, Adam 2e-4 (0.9, 0.99), halved at 200k,
400k, 600k and 800k of 10^6 updates, batch 16 of 128x128 HR crops with flips and
rotations, an EMA of G (0.999). The authors train on DF2K (DIV2K + Flickr2K); TFDS has
DIV2K.
"""

import ml_collections
import srresnet_div2k


def get_config():
  c = srresnet_div2k.get_config()
  c.image_size = 128                 # gt_size; LR 32
  c.model = ml_collections.ConfigDict(dict(name="esrgan", g_width=64, num_blocks=23, growth=32,
                                           d_width=64))
  # BasicSR's L1 weight 1.0 on [0, 1] images is 0.5 on jaxgan's [-1, 1] (superres_step.py).
  c.superres.update(dict(pixel_loss="l1", pixel_weight=0.5))
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(lr=2e-4, b1=0.9, b2=0.99, decay="step",
                    milestones=[200_000, 400_000, 600_000, 800_000], gamma=0.5))
  c.num_train_steps = 1_000_000
  c.ema_decay = 0.999                # BasicSR's ema_decay: `upscale` uses the average
  return c
