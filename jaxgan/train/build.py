"""Config -> GANDef (modules, optimizers, losses, step options) and the state's shapes.

One place turns a config into what the train step needs, so the loop, `generate`,
benchmarks and tests all build the same GAN.
"""

import functools

import jax
import ml_collections

from jaxgan import losses, models
from jaxgan.errors import UsageError
from jaxgan.train import optim, parallel
from jaxgan.train.state import GANDef, GANState, init_state

NONFINITE_POLICIES = ("stop", "skip")


def build_gan(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None) -> GANDef:
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  policy = config.get("nonfinite", "stop")
  if policy not in NONFINITE_POLICIES:
    raise UsageError(f"unknown nonfinite policy {policy!r}; valid: {', '.join(NONFINITE_POLICIES)}")
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g),
                d_tx=optim.make_optimizer(config.optimizer_d), d_loss=d_loss, g_loss=g_loss,
                grad_accum_steps=config.get("grad_accum_steps", 1),
                skip_nonfinite=policy == "skip")


def image_shape(config) -> tuple[int, int, int]:
  return (config.image_size, config.image_size, config.channels)


def abstract_state(gan: GANDef, config, mesh) -> GANState:
  """The state's shapes and dtypes, replicated over `mesh` (a restore target)."""
  shapes = jax.eval_shape(functools.partial(init_state, gan, config.seed, image_shape(config)))
  return parallel.abstract_like(shapes, parallel.replicated(mesh))
