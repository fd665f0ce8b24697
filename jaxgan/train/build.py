"""Config -> GANDef (modules, optimizers, losses, step options) and the state's shapes.

One place turns a config into what the train step needs, so the loop, `generate`,
benchmarks and tests all build the same GAN.

Config fields read here besides the model and optimizers (all optional, defaults in
brackets): loss ["dcgan"], penalty ["none": "gp" | "r1" | "r2"], penalty_weight
[0: WGAN-GP's lambda, or R1/R2's gamma (the term is gamma/2 ||grad||^2)], weight_clip
[0: off; WGAN clips D's weights to +-weight_clip], n_critic [1], ema_decay [0: no EMA],
augment ["": DiffAugment policy, e.g. "translation,cutout,color"], nonfinite ["stop"].
"""

import functools

import jax
import ml_collections
import optax

from jaxgan import losses, models
from jaxgan.errors import UsageError
from jaxgan.train import optim, parallel
from jaxgan.train.state import GANDef, GANState, init_state

NONFINITE_POLICIES = ("stop", "skip")


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise UsageError(message)


def _d_optimizer(config) -> optax.GradientTransformation:
  updates = config.get("num_train_steps", 0) * config.get("n_critic", 1)
  tx = optim.make_optimizer(config.optimizer_d, updates)
  clip = config.get("weight_clip", 0.0)
  _check(clip >= 0, f"weight_clip must be >= 0, got {clip!r}")
  return optax.chain(tx, optim.clip_params(clip)) if clip > 0 else tx


def _augment(config):
  policy = config.get("augment", "")
  if not policy:
    return None
  from jaxgan import augment
  return augment.DiffAugment.from_policy(policy)


def build_gan(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None) -> GANDef:
  """The GANDef `config` describes; UsageError names a bad field and the valid values."""
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  penalty = losses.check_penalty(config.get("penalty", "none"))
  weight = config.get("penalty_weight", 0.0)
  _check(penalty == "none" or weight > 0, f"penalty={penalty!r} needs penalty_weight > 0")
  n_critic = config.get("n_critic", 1)
  _check(isinstance(n_critic, int) and n_critic >= 1, f"n_critic must be >= 1, got {n_critic!r}")
  _check(config.batch_size % n_critic == 0,
         f"batch_size={config.batch_size} must be a multiple of n_critic={n_critic} "
         "(each D update uses batch_size / n_critic examples)")
  ema = config.get("ema_decay", 0.0)
  _check(0.0 <= ema < 1.0, f"ema_decay must be in [0, 1), got {ema!r}")
  policy = config.get("nonfinite", "stop")
  _check(policy in NONFINITE_POLICIES,
         f"unknown nonfinite policy {policy!r}; valid: {', '.join(NONFINITE_POLICIES)}")
  accum = config.get("grad_accum_steps", 1)
  _check(accum == 1 or (penalty == "none" and n_critic == 1 and not losses.batch_coupled(d_loss)
                        and not config.get("augment", "") and not models.num_classes(config)),
         "grad_accum_steps > 1 supports only the plain step (no penalty, n_critic, "
         "relativistic loss, augment or conditioning)")
  pack = models.pack_size(config)
  _check(pack == 1 or (penalty == "none" and accum == 1),
         "model.pack > 1 (PacGAN) supports penalty=none and grad_accum_steps=1")
  _check((config.batch_size // n_critic) % pack == 0,
         f"each D update's batch (batch_size / n_critic = {config.batch_size // n_critic}) "
         f"must divide into packs of model.pack={pack}")
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  _check(penalty == "none" or not models.d_uses_batch_norm(config),
         f"penalty={penalty!r} needs a discriminator without BatchNorm (per-example input "
         "gradients); set --config.model.norm=none or use a model without it")
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g, config.get("num_train_steps", 0)),
                d_tx=_d_optimizer(config),
                d_loss=d_loss, g_loss=g_loss, grad_accum_steps=accum,
                skip_nonfinite=policy == "skip", n_critic=n_critic, penalty=penalty,
                penalty_weight=float(weight), ema_decay=float(ema),
                num_classes=models.num_classes(config),
                ac_weight=models.ac_weight(config), augment=_augment(config))


def is_point_data(config) -> bool:
  """Whether examples are 2-D points (the toy mixtures), not images."""
  from jaxgan.data import toy2d
  return toy2d.is_toy(config.dataset)


def image_shape(config) -> tuple[int, ...]:
  """One example's shape: (H, W, C) for images, (2,) for the 2-D toy datasets."""
  if is_point_data(config):
    return (2,)
  return (config.image_size, config.image_size, config.channels)


def abstract_state(gan: GANDef, config, mesh) -> GANState:
  """The state's shapes and dtypes, replicated over `mesh` (a restore target)."""
  shapes = jax.eval_shape(functools.partial(init_state, gan, config.seed, image_shape(config)))
  return parallel.abstract_like(shapes, parallel.replicated(mesh))
