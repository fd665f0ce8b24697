"""init_generator_from: a fresh run starts from another run's generator (SRGAN's and
ESRGAN's second phase); a wrong run is refused before anything is written."""

import os

import jax
import numpy as np
import pytest

from jaxgan.errors import UsageError
from jaxgan.generate import load_run
from jaxgan.train import loop
from helpers import tiny_config


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp("data"))
  workdir = str(tmp_path_factory.mktemp("first"))
  loop.train_and_evaluate(tiny_config(data_dir, num_train_steps=2), workdir)
  return data_dir, workdir


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("parallel", ["sharded", "pmap"])
def test_second_run_starts_from_the_first_runs_generator(first_run, tmp_path, parallel):
  data_dir, first = first_run
  _, _, before = load_run(first)
  c = tiny_config(data_dir, num_train_steps=1, init_generator_from=first, parallel=parallel)
  c.optimizer_g.lr = 0.0  # G stays where it started: the first run's generator
  second = str(tmp_path / "second")
  loop.train_and_evaluate(c, second)
  _, _, after = load_run(second)
  for a, b in zip(_leaves(before.g.params), _leaves(after.g.params)):
    np.testing.assert_array_equal(a, b)
  # Only G is taken: D starts afresh (and has trained one step).
  assert any(not np.array_equal(a, b)
             for a, b in zip(_leaves(before.d.params), _leaves(after.d.params)))


def test_a_different_generator_or_no_run_is_refused_before_writing(first_run, tmp_path):
  data_dir, first = first_run
  wider = tiny_config(data_dir, num_train_steps=1, init_generator_from=first)
  wider.model.g_width = 8
  target = str(tmp_path / "wider")
  with pytest.raises(UsageError, match="that run's generator differs from this config's"):
    loop.train_and_evaluate(wider, target)
  assert not os.path.exists(target)
  missing = tiny_config(data_dir, num_train_steps=1, init_generator_from=str(tmp_path / "none"))
  with pytest.raises(UsageError, match="init_generator_from: workdir .* does not exist"):
    loop.train_and_evaluate(missing, target)
  assert not os.path.exists(target)
