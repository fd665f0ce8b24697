"""SNGAN on CIFAR-10 (Miyato et al. 2018, "Spectral normalization for GANs", ICLR):
the ResNet G and D of appendix B.4 (Table 4), hinge loss, spectral norm on every D layer.

Hyperparameters from the paper's CIFAR-10 ResNet runs (sec. 4, Table 1 setting with
n_dis = 5): Adam lr 2e-4, beta1 0, beta2 0.9, 5 D updates per G update, batch 64,
50k G updates, learning rate decayed linearly to 0 (as in the authors' released code).
"""

import ml_collections

import dcgan_base

PER_UPDATE_BATCH = 64  # examples per D update and per G update
N_CRITIC = 5
STEPS = 50_000         # G updates


def get_config() -> ml_collections.ConfigDict:
  c = dcgan_base.get_config()
  c.dataset = "cifar10"
  c.image_size = 32
  c.channels = 3
  c.model = ml_collections.ConfigDict(dict(
      name="resnet", latent_dim=128, g_width=256, d_width=128, spectral_norm=True,
      num_classes=0, conditioning="projection", ac_weight=1.0))
  c.loss = "hinge"
  c.penalty = "none"
  c.penalty_weight = 0.0
  c.weight_clip = 0.0
  c.n_critic = N_CRITIC
  c.ema_decay = 0.0
  c.augment = ""
  adam = dict(name="adam", lr=2e-4, b1=0.0, b2=0.9, decay="linear")
  c.optimizer_g = ml_collections.ConfigDict(dict(adam, decay_steps=STEPS))
  c.optimizer_d = ml_collections.ConfigDict(dict(adam, decay_steps=STEPS * N_CRITIC))
  c.batch_size = PER_UPDATE_BATCH * N_CRITIC  # one step reads n_critic D batches
  c.num_train_steps = STEPS
  c.checkpoint_every_steps = 5000
  c.sample_every_steps = 2500
  return c
