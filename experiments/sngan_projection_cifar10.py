"""Class-conditional SNGAN on CIFAR-10 with a projection discriminator (Miyato & Koyama
2018, "cGANs with projection discriminator", ICLR): conditional BatchNorm in G, D's
logit plus <embed(y), features> with a spectrally normalised class embedding.

Hyperparameters as the paper's CIFAR-10 runs, which use SNGAN's ResNet and recipe:
hinge loss, Adam lr 2e-4, beta1 0, beta2 0.9, n_dis 5, batch 64, 50k G updates with
linear decay. `jaxgan generate --labels 3` draws class 3 (cat).
"""

import sngan_cifar10


def get_config():
  c = sngan_cifar10.get_config()
  c.model.num_classes = 10
  c.model.conditioning = "projection"
  return c
