"""The PyTorch DCGAN tutorial, exactly: CelebA at 64x64, batch 128, Adam 2e-4 / 0.5, 5 epochs.

The tutorial trains on all 202,599 aligned CelebA images (an ImageFolder); TFDS's
celeb_a holds them as train+validation+test. 5 epochs = 5 * ceil(202599 / 128) = 7,915
iterations. TFDS needs the CelebA files placed manually (see TFDS's celeb_a page).
"""

import dcgan_base

NUM_IMAGES = 202_599


def get_config():
  c = dcgan_base.get_config()
  c.dataset = "celeb_a"
  c.split = "train+validation+test"
  c.image_size = 64
  c.channels = 3
  c.batch_size = 128
  c.num_train_steps = 5 * -(-NUM_IMAGES // 128)  # 5 epochs = 7,915 steps
  return c
