"""Model registry: a config's `model.name` -> (generator, discriminator) Flax modules."""

import jax.numpy as jnp
import ml_collections

from jaxgan.errors import UsageError
from jaxgan.models import dcgan

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(config: ml_collections.ConfigDict):
  name = config.get("compute_dtype", "float32")
  if name not in _DTYPES:
    raise UsageError(f"unknown compute_dtype {name!r}; valid: {', '.join(_DTYPES)}")
  return _DTYPES[name]


def _dcgan(config, bn_axis_name):
  m = config.model
  dcgan.num_stages(config.image_size)  # validates the resolution with a clear message
  dtype = compute_dtype(config)
  g = dcgan.Generator(image_size=config.image_size, channels=config.channels,
                      latent_dim=m.latent_dim, width=m.g_width, dtype=dtype,
                      bn_axis_name=bn_axis_name, conv_impl=config.get("conv_impl", "auto"),
                      norm=m.get("norm", "batch"))
  d = dcgan.Discriminator(image_size=config.image_size, channels=config.channels,
                          width=m.d_width, dtype=dtype, bn_axis_name=bn_axis_name,
                          conv_impl=config.get("conv_impl", "auto"), norm=m.get("norm", "batch"))
  return g, d


MODELS = {"dcgan": _dcgan}


def build_models(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None):
  """(generator, discriminator) for `config`. Generators expose `latent_dim`."""
  name = config.model.name
  if name not in MODELS:
    raise UsageError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
  if config.get("channels") not in (1, 3):
    raise UsageError(f"channels must be 1 or 3, got {config.get('channels')!r}")
  return MODELS[name](config, bn_axis_name)
