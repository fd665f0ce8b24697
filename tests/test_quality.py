"""Slow: the default experiment, shortened, learns digits of every class.

Training runs as the README runs it: the `jaxgan` command in its own process (one CPU
device), so the check covers the command line and nothing else in the test session
(simulated devices, other tests' state) can influence it.
"""

import os
import subprocess
import sys

import pytest

from helpers import REPO

sys.path.insert(0, os.path.join(REPO, "scripts"))
import evaluate_digits  # noqa: E402


@pytest.mark.slow
def test_digits_run_learns_all_classes(tmp_path, tfds_dir):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  proc = subprocess.run(
      [sys.executable, "-m", "jaxgan.cli", "train", "--config",
       os.path.join(REPO, "experiments", "dcgan_digits.py"), "--workdir", str(tmp_path / "run"),
       f"--config.data_dir={tfds_dir}", "--config.num_train_steps=800",  # README run: 2,000
       "--config.progress_bar=false"], env=env, capture_output=True, text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = evaluate_digits.evaluate(str(tmp_path / "run"), num=1000)
  print(rows)
  trained, untrained = rows["trained"], rows["untrained"]
  assert trained["coverage"] >= 9
  assert trained["class_kl"] < 0.15
  assert trained["digits_is"] > 3.0 and trained["digits_is"] > 2 * untrained["digits_is"]
