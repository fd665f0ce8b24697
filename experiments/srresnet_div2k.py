"""SRResNet x4, the PSNR-oriented first phase of SRGAN (Ledig et al. 2017, "SRResNet-MSE").

The paper's generator (16 residual blocks, BatchNorm, PReLU, two pixel-shuffle x2
stages) trained on MSE alone: 96x96 HR crops (24x24 LR), batch 16, Adam 1e-4
(beta1 0.9), 10^6 updates. The paper drew 350k ImageNet images; DIV2K (TFDS
`div2k/bicubic_x4`, its own bicubic LR images) is the SR field's standard set since.
Its result initialises the GAN of srgan_div2k.py (init_generator_from).
"""

import dcgan_base
import ml_collections


def get_config():
  c = dcgan_base.get_config()        # data, schedule, reliability and parallelism fields
  c.task = "superres"                # batches of {'input': LR, 'image': HR} (data/superres.py)
  c.dataset = "div2k/bicubic_x4"
  c.image_key = "hr"
  c.input_key = "lr"                 # the dataset's own LR images ("" = degrade HR by bicubic)
  c.image_size = 96                  # HR patch; LR 24
  c.channels = 3
  c.flip = True                      # flips and transposes (BasicSR's augment)
  c.shuffle_buffer = 800
  c.model = ml_collections.ConfigDict(dict(name="srgan", g_width=64, num_blocks=16,
                                           d_width=64, dense_width=1024))
  c.superres = ml_collections.ConfigDict(dict(   # train/superres_step.py SROptions
      scale=4, pixel_loss="mse", pixel_weight=1.0, perceptual_layer="",
      perceptual_criterion="mse", perceptual_weight=0.0, adv_weight=0.0, relativistic=False,
      perceptual_weights=""))        # torchvision's vgg19-dcbb9e9d.pth when perceptual is on
  c.loss = "dcgan"
  c.optimizer_g = ml_collections.ConfigDict(dict(name="adam", lr=1e-4, b1=0.9, b2=0.999))
  c.optimizer_d = ml_collections.ConfigDict(dict(name="adam", lr=1e-4, b1=0.9, b2=0.999))
  c.batch_size = 16
  c.num_train_steps = 1_000_000
  c.log_every_steps = 200
  c.sample_every_steps = 5000
  c.checkpoint_every_steps = 10_000
  c.num_samples = 8                  # fixed LR inputs of the sample grid: bicubic | G | HR
  c.eval.every_steps = 0             # FID does not measure SR; `jaxgan upscale --evaluate` does PSNR
  return c
