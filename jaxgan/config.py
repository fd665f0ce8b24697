"""Experiment configs: load `experiments/NAME.py`, apply `--config.FIELD=VALUE`, validate, save.

A config file defines `get_config() -> ml_collections.ConfigDict`. Every config has
at least: dataset, image_size, batch_size (global), num_train_steps, seed,
checkpoint_every_steps, log_every_steps, sample_every_steps.
"""

import importlib.util
import json
import os
import sys
from typing import Any

import ml_collections

from jaxgan.errors import UsageError

REQUIRED_FIELDS = ("dataset", "image_size", "batch_size", "num_train_steps", "seed",
                   "checkpoint_every_steps", "log_every_steps", "sample_every_steps")


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """Imports `path` and returns its get_config()."""
  if not os.path.isfile(path):
    raise UsageError(f"config file {path!r} does not exist")
  spec = importlib.util.spec_from_file_location(f"_jaxgan_config_{abs(hash(path))}", path)
  module = importlib.util.module_from_spec(spec)
  folder = os.path.dirname(os.path.abspath(path))
  sys.path.insert(0, folder)  # variants import their base config from the same folder
  try:
    spec.loader.exec_module(module)
  except Exception as e:
    raise UsageError(f"config file {path!r} failed to load: {type(e).__name__}: {e}") from None
  finally:
    sys.path.remove(folder)
  if not hasattr(module, "get_config"):
    raise UsageError(f"config file {path!r} defines no get_config()")
  return module.get_config()


def _parse_value(text: str, current: Any, field: str) -> Any:
  """Parses `text` as the type of the field's current value."""
  try:
    if isinstance(current, bool):
      if text.lower() in ("1", "true", "yes"):
        return True
      if text.lower() in ("0", "false", "no"):
        return False
      raise ValueError(text)
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, (tuple, list)):
      value = json.loads(text if text.startswith("[") else f"[{text}]")
      return type(current)(value)
    if current is None:
      return json.loads(text) if text not in ("", "None") else None
    return type(current)(text)
  except (ValueError, json.JSONDecodeError):
    raise UsageError(f"--config.{field}={text!r}: expected a {type(current).__name__}") from None


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, str]) -> None:
  """Sets each 'a.b' -> 'text' override on `config`; unknown fields are an error."""
  for field, text in overrides.items():
    node = config
    keys = field.split(".")
    for i, key in enumerate(keys):
      if not isinstance(node, ml_collections.ConfigDict) or key not in node:
        valid = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else ""
        raise UsageError(f"unknown config field {field!r}"
                         + (f"; valid fields here: {valid}" if valid else ""))
      if i < len(keys) - 1:
        node = node[key]
    leaf = keys[-1]
    if isinstance(node[leaf], ml_collections.ConfigDict):
      raise UsageError(f"--config.{field} is a group; set one of its fields: "
                       f"{', '.join(sorted(node[leaf].keys()))}")
    with node.ignore_type():
      node[leaf] = _parse_value(text, node[leaf], field)


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks what a config must have; raises UsageError naming the first problem."""
  missing = [f for f in REQUIRED_FIELDS if f not in config]
  if missing:
    raise UsageError(f"config lacks required fields: {', '.join(missing)}")
  for field in ("batch_size", "num_train_steps", "checkpoint_every_steps", "log_every_steps",
                "sample_every_steps"):
    if not isinstance(config[field], int) or config[field] <= 0:
      raise UsageError(f"{field} must be a positive integer, got {config[field]!r}")


def to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def from_json(text: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(json.loads(text))
