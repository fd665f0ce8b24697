"""DeepFill v2 (Yu et al. 2019, "Free-Form Image Inpainting with Gated Convolution").

The authors' Places2 recipe (JiahuiYu/generative_inpainting v2, inpaint.yml): 256x256
images, free-form stroke + box holes drawn per example (jaxgan/data/masks.py), gated
coarse and refine networks (cnum 48) with contextual attention, SN-PatchGAN D (width
64), hinge loss, L1 on the coarse and refined outputs (weight 1 each) + the adversarial
term (1); Adam 1e-4 (0.5, 0.999) for both; batch 16. TFDS `places365_small` holds the
Places365-Standard images at 256x256.
"""

import dcgan_base
import ml_collections


def get_config():
  c = dcgan_base.get_config()
  c.task = "inpaint"                 # plain image batches; the step draws the holes
  c.dataset = "places365_small"
  c.image_size = 256
  c.channels = 3
  c.shuffle_buffer = 10_000
  c.model = ml_collections.ConfigDict(dict(name="deepfill", g_width=48, d_width=64))
  c.inpaint = ml_collections.ConfigDict(dict(l1_weight=1.0, adv_weight=1.0, masks="deepfill"))
  c.loss = "hinge"
  c.optimizer_g = ml_collections.ConfigDict(dict(name="adam", lr=1e-4, b1=0.5, b2=0.999))
  c.optimizer_d = ml_collections.ConfigDict(dict(name="adam", lr=1e-4, b1=0.5, b2=0.999))
  c.batch_size = 16
  c.num_train_steps = 1_000_000
  c.log_every_steps = 200
  c.sample_every_steps = 5000
  c.checkpoint_every_steps = 10_000
  c.num_samples = 8                  # fixed images and holes: input | result | original
  c.eval.every_steps = 0             # FID of G(z) does not apply; scripts/evaluate_inpainting_digits.py
  return c
