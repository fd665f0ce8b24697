"""Slow: the default experiment, shortened, learns digits of every class."""

import os
import sys

import pytest

from helpers import REPO
from jaxgan import config as config_lib
from jaxgan.train import loop

sys.path.insert(0, os.path.join(REPO, "scripts"))
import evaluate_digits  # noqa: E402


@pytest.mark.slow
def test_digits_run_learns_all_classes(tmp_path, tfds_dir):
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "dcgan_digits.py"))
  c.data_dir = tfds_dir
  c.num_train_steps = 800         # the README's run is 2,000 steps; this is enough to judge
  c.progress_bar = False
  loop.train_and_evaluate(c, str(tmp_path))
  rows = evaluate_digits.evaluate(str(tmp_path), num=1000)
  print(rows)
  trained, untrained = rows["trained"], rows["untrained"]
  assert trained["coverage"] >= 9
  assert trained["class_kl"] < 0.15
  assert trained["digits_is"] > 3.0 and trained["digits_is"] > 2 * untrained["digits_is"]
