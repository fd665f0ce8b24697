"""SRGAN x4, SRGAN-VGG54 (Ledig et al. 2017): the GAN phase, from a trained SRResNet.

Start it from srresnet_div2k.py's run: --config.init_generator_from=WORKDIR. The
paper's objective: 0.006 * MSE of VGG19 relu5_4 features (their 1/12.75 rescaling) +
1e-3 * the generator's adversarial loss; 10^5 updates at lr 1e-4, then 10^5 at 1e-5;
batch 16 of 96x96 crops. The VGG is torchvision's ImageNet VGG19
(vgg19-dcbb9e9d.pth, read with torch): set --config.superres.perceptual_weights.
"""

import srresnet_div2k


def get_config():
  c = srresnet_div2k.get_config()
  c.init_generator_from = ""         # the SRResNet run's workdir (required: the paper's init)
  c.superres.update(dict(pixel_loss="none", perceptual_layer="relu5_4",
                         perceptual_criterion="mse", perceptual_weight=0.006, adv_weight=1e-3,
                         perceptual_weights="~/weights/vgg19-dcbb9e9d.pth"))
  c.num_train_steps = 200_000
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(dict(decay="step", milestones=[100_000], gamma=0.1))
  return c
