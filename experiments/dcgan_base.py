"""The DCGAN recipe of the PyTorch tutorial (Radford et al. 2016): the base of every dcgan_* config.

Variants import this file, call get_config() and override a few fields.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Data
  c.dataset = "celeb_a"           # a TFDS name, an embedded dataset, or an image folder path
  c.split = "train"
  c.data_dir = ""                 # TFDS data_dir; "" = TFDS's default (~/tensorflow_datasets)
  c.image_key = "image"
  c.label_key = "label"
  c.image_size = 64
  c.channels = 3
  c.shuffle_buffer = 10_000
  c.bad_images = "skip"           # image folders: "skip" undecodable files (warned) or "error"
  # Model: the tutorial's networks (nz=100, ngf=ndf=64).
  c.model = ml_collections.ConfigDict(dict(name="dcgan", latent_dim=100, g_width=64, d_width=64,
                                           pack=1))  # pack: PacGAN m (D judges m samples)
  c.compute_dtype = "float32"
  c.conv_impl = "auto"            # "auto": stride-1 rearrangements on CPU, native ops elsewhere
  c.loss = "dcgan"                # minimax D loss, non-saturating G loss
  c.optimizer_g = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, b2=0.999))
  c.optimizer_d = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, b2=0.999))
  # Schedule
  c.batch_size = 128              # global, over all devices and processes
  c.num_train_steps = 10_000
  c.seed = 0
  c.log_every_steps = 100
  c.sample_every_steps = 500
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.num_samples = 64              # fixed-z sample grid size
  c.init_generator_from = ""      # a run whose generator starts this one (SRGAN's 2nd phase)
  c.progress_bar = True
  # Periodic evaluation (jaxgan.metrics.periodic): every_steps=0 turns it off.
  # keep_best "" keeps no best checkpoint. Image-to-image runs only: split and dataset (the
  # examples judged; "" = the run's own), mode (translation inference), and metrics may add
  # l1, psnr, ssim, and lpips with its weights (lpips, lpips_lin: files as `jaxgan eval --lpips`).
  c.eval = ml_collections.ConfigDict(dict(every_steps=0, metrics="fid,kid", num_samples=2000,
                                          features="digits", batch_size=500, seed=0,
                                          keep_best="fid", split="", dataset="", mode="auto",
                                          lpips="", lpips_lin=""))
  # Reliability (README, "Reliability")
  c.nonfinite = "stop"            # NaN/Inf: "stop" (last good checkpoint kept) or "skip" the step
  c.nonfinite_max_skips = 20      # "skip": stop after this many non-finite steps in a row
  c.preemption_sync_every_steps = 10  # multi-process: how often processes agree on SIGTERM
  # Parallelism (README, "Scaling out")
  c.parallel = "sharded"          # "sharded" (jit over a device mesh) or "pmap"
  c.grad_accum_steps = 1          # micro-batches per device per step (large batches, small memory)
  c.distributed = ml_collections.ConfigDict(dict(
      coordinator_address="",     # "host:port" of process 0; "" = $JAX_COORDINATOR_ADDRESS
      num_processes=0,            # 0 = $JAX_NUM_PROCESSES
      process_id=-1,              # -1 = $JAX_PROCESS_ID
      auto_detect=False,          # let JAX find the cluster (TPU pod slices, SLURM, ...)
      initialization_timeout_s=60))
  return c
