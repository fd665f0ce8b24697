"""2-D mode-collapse benchmark, ring: 8 Gaussians on the unit circle, std 0.01.

The data of the VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018) synthetic
experiments. The loss and D's regulariser are config fields, e.g.
  --config.loss=hinge --config.model.spectral_norm=true
  --config.loss=wasserstein --config.penalty=gp --config.penalty_weight=0.1 --config.n_critic=5
  --config.model.pack=2                     (PacGAN2)
scripts/toy_benchmark.py runs the README's table over losses, datasets and seeds.
Networks: MLPs of 3 hidden layers x 128 units (jaxgan/models/mlp.py). A 2-D latent as in
the PacGAN toy code (z_dim 2), Adam 1e-3 decayed linearly to 0: the decay is what turns
"every mode visited" into "samples within 3 std" (single-seed probes: 96% vs ~40-75%
high-quality samples on the ring without it). 20,000 steps: ~40 s a run on a 2-core CPU.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.dataset = "toy_ring"          # jaxgan/data/toy2d.py: toy_ring or toy_grid
  c.image_size = 2                # unused: examples are 2-D points (required field)
  c.channels = 1                  # unused
  c.model = ml_collections.ConfigDict(dict(
      name="mlp", latent_dim=2, g_width=128, g_depth=3, d_width=128, d_depth=3,
      spectral_norm=False, num_classes=0, pack=1))
  c.compute_dtype = "float32"
  c.loss = "non_saturating"       # any of jaxgan.losses.GAN_LOSSES
  c.penalty = "none"              # none | gp | r1 | r2
  c.penalty_weight = 0.0          # gp: lambda; r1/r2: gamma (term gamma/2 ||grad D||^2)
  c.weight_clip = 0.0             # WGAN weight clipping of D (0: off)
  c.n_critic = 1                  # D updates per G update (batch_size = n_critic * per-update batch)
  c.ema_decay = 0.0               # EMA of G's weights (0: off; an EMA averages mode hops into gaps here)
  c.augment = ""                  # DiffAugment policy (images only)
  # decay_steps 0: the lr reaches 0 at the run's last step (D: n_critic x num_train_steps updates).
  c.optimizer_g = ml_collections.ConfigDict(dict(name="adam", lr=1e-3, b1=0.5, b2=0.9,
                                                  decay="linear", decay_steps=0))
  c.optimizer_d = ml_collections.ConfigDict(dict(name="adam", lr=1e-3, b1=0.5, b2=0.9,
                                                  decay="linear", decay_steps=0))
  c.batch_size = 100              # PacGAN's toy batch
  c.num_train_steps = 20_000
  c.seed = 0
  c.log_every_steps = 500
  c.sample_every_steps = 2500
  c.checkpoint_every_steps = 5000
  c.keep_checkpoints = 1
  c.num_samples = 512             # points in the preview scatter
  c.num_eval_samples = 2500       # the benchmark's sample count
  c.progress_bar = True
  c.nonfinite = "stop"
  c.nonfinite_max_skips = 20
  c.parallel = "sharded"
  c.grad_accum_steps = 1
  c.distributed = ml_collections.ConfigDict(dict(
      coordinator_address="", num_processes=0, process_id=-1, auto_detect=False,
      initialization_timeout_s=60))
  return c
