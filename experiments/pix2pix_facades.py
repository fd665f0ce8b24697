"""pix2pix on CMP Facades, labels -> photo (Isola et al. 2017; the authors' facades recipe).

Data: the authors' `facades` folder (each JPEG holds the photo A on the left and the
label map B on the right, 256x256 each; 400 training images), e.g. from their
datasets/download_pix2pix_dataset.sh; point --config.dataset at its train/ folder.
Recipe of their train.py defaults: U-Net 256 (ngf 64, BatchNorm, dropout 0.5), 70x70
PatchGAN (ndf 64), vanilla GAN loss + 100 * L1, Adam 2e-4 (0.5, 0.999), batch 1,
load 286 -> random 256 crop + flip, 100 epochs at constant lr then 100 of linear decay
(400 images x 200 epochs = 80,000 steps).
"""

import dcgan_base
import ml_collections


def get_config():
  c = dcgan_base.get_config()        # data, schedule, reliability and parallelism fields
  c.task = "paired"                  # batches of {'input', 'image'} (jaxgan/data/paired.py)
  c.dataset = "~/datasets/facades/train"
  c.direction = "BtoA"               # labels (right half) -> photo (left half)
  c.input_key = "input"              # TFDS paired datasets: the input image feature
  c.image_size = 256
  c.load_size = 286                  # resize, then a random image_size crop
  c.flip = True
  c.channels = 3
  c.input_channels = 3
  c.shuffle_buffer = 400
  c.model = ml_collections.ConfigDict(dict(name="pix2pix", g_width=64, d_width=64, norm="batch",
                                           dropout=0.5, d_layers=3))
  c.translation = ml_collections.ConfigDict(dict(l1_weight=100.0, d_loss_scale=0.5))
  c.loss = "dcgan"                   # pix2pix's 'vanilla' GAN loss (BCE on patch logits)
  epoch = 400
  c.batch_size = 1
  c.num_train_steps = 200 * epoch
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(decay="linear", decay_start=100 * epoch, decay_steps=100 * epoch))
  c.log_every_steps = 100
  c.sample_every_steps = 2000
  c.checkpoint_every_steps = 4000
  c.num_samples = 8                  # fixed inputs of the sample grid: input | output | target
  c.eval.every_steps = 0             # FID of translations is not wired up (see README)
  return c
