"""The command line: bad input is one line on stderr, exit code 2, and nothing written."""

import os
import subprocess
import sys

import numpy as np
import pytest

from jaxgan import cli
from helpers import REPO

DIGITS = os.path.join(REPO, "experiments", "dcgan_digits.py")


def _train(workdir, *overrides, tfds_dir=""):
  return cli.main(["train", "--config", DIGITS, "--workdir", str(workdir),
                   f"--config.data_dir={tfds_dir}", "--config.progress_bar=false", *overrides])


TINY = ("--config.image_size=16", "--config.model.g_width=4", "--config.model.d_width=4",
        "--config.batch_size=8", "--config.num_train_steps=2", "--config.log_every_steps=1",
        "--config.sample_every_steps=2", "--config.checkpoint_every_steps=2",
        "--config.num_samples=4")


@pytest.mark.parametrize("overrides,message", [
    (("--config.dataset=no_such_dataset_xyz",), "unknown dataset 'no_such_dataset_xyz'"),
    (("--config.no_such_field=1",), "unknown config field 'no_such_field'"),
    (("--config.model.nope=1",), "unknown config field 'model.nope'"),
    (("--config.image_size=48",), "cannot build image_size=48"),
    (("--config.batch_size=abc",), "expected a int"),
    (("--config.loss=wasserstein_typo",), "unknown loss"),
    (("--bogus",), "unrecognised argument"),
])
def test_bad_train_input(tmp_path, capsys, overrides, message, tfds_dir):
  workdir = tmp_path / "run"
  assert _train(workdir, *TINY, *overrides, tfds_dir=tfds_dir) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("jaxgan: error:") and message in err[0], err
  assert not workdir.exists()


def test_empty_and_missing_image_folders(tmp_path, capsys):
  (tmp_path / "empty").mkdir()
  for folder, message in ((tmp_path / "empty", "holds no"), (tmp_path / "missing", "does not exist")):
    assert _train(tmp_path / "run", *TINY, f"--config.dataset={folder}/") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_workdir_that_is_a_file(tmp_path, capsys, tfds_dir):
  f = tmp_path / "file"
  f.write_text("precious")
  assert _train(f, *TINY, tfds_dir=tfds_dir) == 2
  assert "is not a directory" in capsys.readouterr().err
  assert f.read_text() == "precious"


def test_resume_with_another_model_is_refused(tmp_path, capsys, tfds_dir):
  workdir = tmp_path / "run"
  assert _train(workdir, *TINY, tfds_dir=tfds_dir) == 0
  before = sorted(os.listdir(workdir / "checkpoints"))
  assert _train(workdir, *TINY, "--config.model.g_width=8", tfds_dir=tfds_dir) == 2
  assert "different config (fields model.g_width)" in capsys.readouterr().err
  assert sorted(os.listdir(workdir / "checkpoints")) == before
  # generate: a workdir without a checkpoint, then a real one.
  assert cli.main(["generate", "--workdir", str(tmp_path), "--num", "2", "--out",
                   str(tmp_path / "x.npz")]) == 2
  assert "no jaxgan run" in capsys.readouterr().err
  (tmp_path / "fresh").mkdir()
  (tmp_path / "fresh" / "config.json").write_text((workdir / "config.json").read_text())
  assert cli.main(["generate", "--workdir", str(tmp_path / "fresh"), "--num", "2", "--out",
                   str(tmp_path / "x.npz")]) == 2
  assert "has no checkpoint" in capsys.readouterr().err
  assert not (tmp_path / "x.npz").exists()
  assert cli.main(["generate", "--workdir", str(workdir), "--num", "3", "--out",
                   str(tmp_path / "x.npz"), "--grid", str(tmp_path / "x.png")]) == 0
  assert np.load(tmp_path / "x.npz")["images"].shape == (3, 16, 16, 1)


def test_console_script_exit_code(tmp_path):
  """The installed `jaxgan` entry point exits 2 on bad input, with one line."""
  proc = subprocess.run([sys.executable, "-m", "jaxgan.cli", "train", "--config",
                         str(tmp_path / "missing.py"), "--workdir", str(tmp_path / "w")],
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip() == f"jaxgan: error: config file '{tmp_path / 'missing.py'}' does not exist"
