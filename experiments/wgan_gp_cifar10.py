"""WGAN-GP on CIFAR-10 (Gulrajani et al. 2017, "Improved training of Wasserstein GANs"):
the ResNet of the paper's CIFAR-10 experiments (appendix, 128 feature maps in G and D),
no normalisation in the critic, gradient penalty lambda = 10.

Hyperparameters from the paper (Algorithm 1 defaults and the CIFAR-10 ResNet runs):
Adam lr 2e-4, beta1 0, beta2 0.9, n_critic 5, batch 64, 100k G updates, learning rate
decayed linearly to 0.
"""

import sngan_cifar10

N_CRITIC = 5
STEPS = 100_000


def get_config():
  c = sngan_cifar10.get_config()
  c.model.g_width = 128
  c.model.d_width = 128
  c.model.spectral_norm = False
  c.loss = "wasserstein"
  c.penalty = "gp"
  c.penalty_weight = 10.0
  c.n_critic = N_CRITIC
  c.batch_size = 64 * N_CRITIC
  c.num_train_steps = STEPS
  c.optimizer_g.decay_steps = STEPS
  c.optimizer_d.decay_steps = STEPS * N_CRITIC
  return c
