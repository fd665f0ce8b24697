"""CycleGAN on horse2zebra (Zhu et al. 2017; the authors' default recipe).

Data: TFDS `cycle_gan/horse2zebra` (splits trainA: 1,067 horses, trainB: 1,334 zebras).
Recipe of the authors' train.py defaults: ResNet G with 9 blocks (ngf 64), 70x70 PatchGAN
(ndf 64), InstanceNorm, LSGAN, lambda_A = lambda_B = 10, identity 0.5, a pool of 50 fakes,
Adam 2e-4 (0.5, 0.999), batch 1, load 286 -> random 256 crop + flip, 100 epochs at constant
lr then 100 of linear decay (an epoch: the larger domain's images; the authors' loader
counts the larger of the two).
"""

import dcgan_base
import ml_collections


def get_config():
  c = dcgan_base.get_config()        # data, schedule, reliability and parallelism fields
  c.task = "unpaired"                # batches of {'input': domain A, 'image': domain B}
  c.dataset = "cycle_gan/horse2zebra"
  c.split_a, c.split_b = "trainA", "trainB"
  c.key_a, c.key_b = "image", "image"
  c.folder_a, c.folder_b = "", ""    # image folders instead of TFDS, per domain
  c.image_size = 256
  c.load_size = 286
  c.flip = True
  c.channels = 3                     # domain B
  c.input_channels = 3               # domain A
  c.shuffle_buffer = 1400
  c.model = ml_collections.ConfigDict(dict(name="cyclegan", g_width=64, d_width=64,
                                           num_blocks=9, norm="instance", dropout=0.0,
                                           d_layers=3))
  # adv_weight 2: our least_squares G loss is (D - 1)^2 / 2, the authors' MSE has no 1/2.
  c.cycle = ml_collections.ConfigDict(dict(lambda_a=10.0, lambda_b=10.0, lambda_identity=0.5,
                                           adv_weight=2.0, pool_size=50))
  c.loss = "least_squares"
  epoch = 1334
  c.batch_size = 1
  c.num_train_steps = 200 * epoch
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(decay="linear", decay_start=100 * epoch, decay_steps=100 * epoch))
  c.log_every_steps = 100
  c.sample_every_steps = 5000
  c.checkpoint_every_steps = 5000
  c.num_samples = 8                  # preview: A | G_A(A) | G_B(G_A(A)), then B likewise
  c.eval.every_steps = 0
  return c
