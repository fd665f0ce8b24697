"""One Optax optimizer factory per network, configured by name."""

import ml_collections
import optax

from jaxgan.errors import UsageError


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """An Optax optimizer from a config group {name, lr, b1, b2}."""
  if cfg.name == "adam":
    return optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2)
  raise UsageError(f"unknown optimizer {cfg.name!r}; valid: adam")
