"""Tiny configs for fast tests."""

import os

import ml_collections
import numpy as np

from jaxgan import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir: str, **overrides) -> ml_collections.ConfigDict:
  """experiments/dcgan_digits.py shrunk: 16x16, width 4, batch 8, 4 steps."""
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "dcgan_digits.py"))
  c.data_dir = data_dir
  c.image_size = 16
  c.model.g_width = 4
  c.model.d_width = 4
  c.batch_size = 8
  c.num_train_steps = 4
  c.log_every_steps = 2
  c.sample_every_steps = 2
  c.checkpoint_every_steps = 2
  c.num_samples = 4
  c.progress_bar = False
  for k, v in overrides.items():
    c[k] = v
  return c


def set_fields(c: ml_collections.ConfigDict, overrides: dict) -> ml_collections.ConfigDict:
  """c with overrides applied; a key "group.field" sets a field of a group."""
  for k, v in overrides.items():
    group, _, field = k.rpartition(".")
    (c[group] if group else c)[field] = v
  return c


def translation_batch(c: ml_collections.ConfigDict, seed: int = 0) -> dict:
  """A random batch for an image-to-image step: 'input' (C_in channels), 'image' (C)."""
  rng = np.random.default_rng(seed)
  shape = (c.batch_size, c.image_size, c.image_size)
  return {"input": rng.uniform(-1, 1, (*shape, c.input_channels)).astype(np.float32),
          "image": rng.uniform(-1, 1, (*shape, c.channels)).astype(np.float32)}


def load_fixture(name: str) -> dict:
  """tests/fixtures/NAME (.npz) as a dict of arrays."""
  with np.load(os.path.join(REPO, "tests", "fixtures", name)) as data:
    return {k: data[k] for k in data.files}


def fixture_group(ref: dict, prefix: str) -> dict:
  """The arrays stored as 'PREFIX/key', keyed by 'key' (one network's state_dict)."""
  return {k.split("/", 1)[1]: v for k, v in ref.items() if k.startswith(prefix + "/")}


def assert_close_scaled(actual, desired, rtol: float = 1e-5) -> None:
  """Equal to `rtol` relative to each value and to the output's scale (a flat atol would
  be loose on small outputs such as logits or G's images at init)."""
  np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.abs(desired).max())


def load_script(path: str):
  """The module of a script outside the package (path relative to the repository)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0],
                                                os.path.join(REPO, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def run_rows(workdir) -> dict:
  """A run's metrics.jsonl rows by step."""
  import json
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return {r["step"]: r for r in map(json.loads, f)}


def assert_adam_moves_equal(after, before, expected, lr: float, what: str) -> None:
  """Parameters after a few Adam steps against a reference's: each weight moves by about lr
  (Adam normalises the gradient), so the moves from `before` are compared to 1% of lr, and
  must be that large somewhere."""
  import jax
  moved = jax.tree.map(lambda a, b: np.asarray(a) - b, after, before)
  want = jax.tree.map(lambda a, b: np.asarray(a) - b, expected, before)
  for (path, got), exp in zip(jax.tree_util.tree_flatten_with_path(moved)[0],
                              jax.tree.leaves(want)):
    np.testing.assert_allclose(got, exp, rtol=0, atol=0.01 * lr,
                               err_msg=f"{what} {jax.tree_util.keystr(path)}")
  assert max(float(np.abs(x).max()) for x in jax.tree.leaves(want)) > 0.5 * lr
