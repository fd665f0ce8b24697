"""One Optax optimizer factory per network, configured by name; WGAN weight clipping."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxgan.errors import UsageError

OPTIMIZERS = ("adam", "rmsprop")
DECAYS = ("none", "linear", "step")


def _learning_rate(cfg: ml_collections.ConfigDict, run_updates: int | None):
  """A constant lr; or (decay="step") multiplied by `gamma` after each of `milestones`
  updates; or constant for `decay_start` updates of this network (default 0;
  pix2pix and CycleGAN hold it for half the run) and then a linear decay to 0 over
  `decay_steps` updates (0: until `run_updates`, this network's updates in the run)."""
  decay = cfg.get("decay", "none")
  if decay not in DECAYS:
    raise UsageError(f"unknown lr decay {decay!r}; valid: {', '.join(DECAYS)}")
  if decay == "none":
    return cfg.lr
  if decay == "step":  # SRGAN's 1e-4 -> 1e-5, ESRGAN's halvings (torch's MultiStepLR)
    milestones = list(cfg.get("milestones", ()))
    gamma = cfg.get("gamma", 0.5)
    if not milestones or any(not isinstance(m, int) or m <= 0 for m in milestones) \
        or milestones != sorted(set(milestones)):
      raise UsageError(f"decay='step' needs milestones: increasing positive update counts, "
                       f"got {milestones!r}")
    if not 0 < gamma <= 1:
      raise UsageError(f"decay='step' needs 0 < gamma <= 1, got {gamma!r}")
    return optax.piecewise_constant_schedule(cfg.lr, {m: gamma for m in milestones})
  start = cfg.get("decay_start", 0)
  if not isinstance(start, int) or start < 0:
    raise UsageError(f"decay_start must be an integer >= 0 (updates), got {start!r}")
  steps = cfg.get("decay_steps", 0)
  if steps == 0 and run_updates:
    steps = run_updates - start
  if not isinstance(steps, int) or steps <= 0:
    raise UsageError(f"decay='linear' needs decay_steps > 0 (updates of this network after "
                     f"decay_start), got {steps!r}")
  return optax.linear_schedule(cfg.lr, 0.0, steps, transition_begin=start)


def make_optimizer(cfg: ml_collections.ConfigDict,
                   run_updates: int | None = None) -> optax.GradientTransformation:
  """An Optax optimizer from a config group {name, lr, b1, b2[, decay, decay_steps]}.

  Separate groups for G and D give each network its own learning rate (TTUR,
  Heusel et al. 2017) and schedule.
  """
  lr = _learning_rate(cfg, run_updates)
  if cfg.name == "adam":
    return optax.adam(lr, b1=cfg.b1, b2=cfg.b2)
  if cfg.name == "rmsprop":  # WGAN (Arjovsky et al. 2017): RMSProp, lr 5e-5
    return optax.rmsprop(lr, decay=cfg.get("rho", 0.9))
  raise UsageError(f"unknown optimizer {cfg.name!r}; valid: {', '.join(OPTIMIZERS)}")


class ClipParamsState(NamedTuple):
  """Stateless."""


def clip_params(limit: float) -> optax.GradientTransformation:
  """WGAN weight clipping as the last link of a chain: the update lands every parameter
  in [-limit, limit] (Arjovsky et al. 2017 clip to 0.01 after each critic update).

  The returned update is clip(p + u) - p, so optax.apply_updates yields the clipped
  parameters (to float32 round-off of one subtraction).
  """
  if limit <= 0:
    raise UsageError(f"weight clip limit must be positive, got {limit!r}")

  def init(params):
    del params
    return ClipParamsState()

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("clip_params needs the parameters")
    new = jax.tree.map(lambda p, u: jnp.clip(p + u, -limit, limit) - p, params, updates)
    return new, state

  return optax.GradientTransformation(init, update)
