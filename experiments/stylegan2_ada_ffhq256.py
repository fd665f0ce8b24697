"""StyleGAN2-ADA at 256x256 on one GPU (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data"): stylegan2_ffhq256.py with NVIDIA's default augmentation,
train.py --aug=ada --augpipe=bgc (jaxgan.ada):

  augment_pipe "bgc"   blits, general geometry and colour transforms
  ada_target 0.6       their --target default: p tracks E[sign(D(real))] = 0.6
  ada_interval 4       p adjusted every 4 minibatches
  ada_kimg 500         p can move by 1 in 500k images
  augment_p 0          p starts at 0

The paper's limited-data runs use subsets of FFHQ (2k, 10k, 140k images): point
--config.dataset at a folder holding the subset.
"""

import stylegan2_ffhq256


def get_config():
  c = stylegan2_ffhq256.get_config()
  c.stylegan2.update(dict(augment_pipe="bgc", augment_p=0.0, ada_target=0.6, ada_interval=4,
                          ada_kimg=500.0))
  return c
