"""StyleGAN2 at 256x256 on one GPU: NVIDIA stylegan2-ada-pytorch's 'auto' config.

Where each value comes from (train.py cfg_specs 'auto' at res=256, gpus=1):
  batch 16          mb = max(min(gpus * min(4096 // res, 32), 64), gpus)
  mbstd group 4     min(mb // gpus, 4)
  channel_base      fmaps 0.5 (res < 512) * 32768 = 16384; channel_max 512
  mapping 2 layers  map=2
  lr 0.0025         res < 1024; Adam betas (0, 0.99), eps 1e-8 (their Adam kwargs)
  gamma 0.8192      0.0002 * res^2 / mb
  EMA 5 kimg        half-life ema = mb * 10 / 32 kimg, ramp-up 0.05
  conv_clamp 256    their --fp32=False default (clamp is part of the model, kept in f32 too)
From the paper (Karras et al. 2020) and their loss defaults: lazy R1 every 16 minibatches,
path length weight 2 every 4 with batch // 2 and decay 0.01, style mixing 0.9, z = w = 512.
Augmentation is off here (their --aug=noaug, the setting of the StyleGAN2 paper's runs and
of the benchmarks' step); stylegan2_ada_ffhq256.py turns on ADA, their default --aug=ada.
Not reproduced: their fp16 in the top 4 resolutions (compute_dtype "bfloat16" is the
nearest here), strided minibatch-stddev groups (ours are consecutive).

The dataset is an image folder: --config.dataset=/path/to/ffhq/images256.
"""

import ml_collections

import dcgan_base

RES = 256
BATCH = 16


def get_config() -> ml_collections.ConfigDict:
  c = dcgan_base.get_config()
  c.dataset = "~/datasets/ffhq256"   # an image folder of 256x256 FFHQ images
  c.image_size = RES
  c.channels = 3
  c.model = ml_collections.ConfigDict(dict(
      name="stylegan2", latent_dim=512, w_dim=512, mapping_layers=2, channel_base=16384,
      channel_max=512, mbstd_group=4, conv_clamp=256.0))
  c.loss = "non_saturating"          # softplus logistic loss, non-saturating G
  c.penalty = "none"                 # R1 is the step's own, lazy (stylegan2.r1_gamma)
  c.augment = ""
  c.stylegan2 = ml_collections.ConfigDict(dict(
      r1_gamma=0.0002 * RES ** 2 / BATCH, r1_interval=16, pl_weight=2.0, pl_interval=4,
      pl_decay=0.01, pl_batch_shrink=2, mixing_prob=0.9, ema_kimg=BATCH * 10 / 32,
      ema_rampup=0.05,
      # ADA (jaxgan.ada; on in stylegan2_ada_ffhq256.py): pipeline, initial p, target of
      # E[sign(D(real))] (0: p fixed), adjustment interval in steps, kimg for p to move by 1.
      augment_pipe="", augment_p=0.0, ada_target=0.0, ada_interval=4, ada_kimg=500.0))
  # Before the lazy-interval correction, which build applies (lr * c, beta ** c).
  adam = dict(name="adam", lr=0.0025, b1=0.0, b2=0.99)
  c.optimizer_g = ml_collections.ConfigDict(adam)
  c.optimizer_d = ml_collections.ConfigDict(adam)
  c.batch_size = BATCH
  c.num_train_steps = 25_000_000 // BATCH   # their kimg=25000
  c.log_every_steps = 100
  c.sample_every_steps = 2500
  c.checkpoint_every_steps = 5000
  return c
