"""PyTorch DCGAN state_dicts (NumPy arrays) -> Flax variables of jaxgan.models.dcgan.

Layouts: Conv2d weight (out, in, kh, kw) -> kernel (kh, kw, in, out); ConvTranspose2d
weight (in, out, kh, kw) -> kernel (kh, kw, in, out) spatially flipped, because our
transposed convolution is a correlation over the dilated input (layers.ConvTranspose2d).
"""

import numpy as np


def conv_kernel(weight: np.ndarray) -> np.ndarray:
  return np.transpose(weight, (2, 3, 1, 0))


def conv_transpose_kernel(weight: np.ndarray) -> np.ndarray:
  return np.transpose(weight, (2, 3, 0, 1))[::-1, ::-1].copy()


def _split(state_dict: dict) -> tuple[list[np.ndarray], list[dict]]:
  """(4-D conv weights, BatchNorm parameter dicts), each in network order."""
  convs, norms = [], {}
  for name, value in state_dict.items():
    layer, _, field = name.rpartition(".")
    if field == "weight" and np.ndim(value) == 4:
      convs.append(value)
    elif field in ("weight", "bias", "running_mean", "running_var"):
      norms.setdefault(layer, {})[field] = value
  return convs, list(norms.values())


def _batch_norm(p: dict) -> tuple[dict, dict]:
  return ({"scale": np.asarray(p["weight"]), "bias": np.asarray(p["bias"])},
          {"mean": np.asarray(p["running_mean"]), "var": np.asarray(p["running_var"])})


def generator_variables(state_dict: dict) -> dict:
  """The tutorial Generator's state_dict -> {'params', 'batch_stats'} for dcgan.Generator."""
  convs, norms = _split(state_dict)
  params = {f"up{i}": {"kernel": conv_transpose_kernel(w)} for i, w in enumerate(convs)}
  stats = {}
  for i, p in enumerate(norms):
    params[f"bn{i}"], stats[f"bn{i}"] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}


def discriminator_variables(state_dict: dict) -> dict:
  """The tutorial Discriminator's state_dict -> {'params', 'batch_stats'} for dcgan.Discriminator."""
  convs, norms = _split(state_dict)
  params = {f"down{i}": {"kernel": conv_kernel(w)} for i, w in enumerate(convs[:-1])}
  params["logit"] = {"kernel": conv_kernel(convs[-1])}
  stats = {}
  for i, p in enumerate(norms, start=1):  # the first D stage has no BatchNorm
    params[f"bn{i}"], stats[f"bn{i}"] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}
