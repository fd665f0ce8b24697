"""Two processes x 2 CPU devices (jax.distributed, gloo) equal one process x 4 devices;
a run checkpointed by 2 processes resumes in 1; bad multi-host settings fail fast."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import REPO

DIGITS = os.path.join(REPO, "experiments", "dcgan_digits.py")
TINY = ["--config.image_size=16", "--config.model.g_width=4", "--config.model.d_width=4",
        "--config.batch_size=8", "--config.log_every_steps=2", "--config.sample_every_steps=4",
        "--config.checkpoint_every_steps=2", "--config.num_samples=4",
        "--config.progress_bar=false"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["JAX_PLATFORMS"] = "cpu"
  for k in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
    env.pop(k, None)
  return env


def _train_cmd(workdir, steps, tfds_dir, *extra):
  return [sys.executable, "-m", "jaxgan.cli", "train", "--config", DIGITS, "--workdir", str(workdir),
          f"--config.data_dir={tfds_dir}", f"--config.num_train_steps={steps}", *TINY, *extra]


def _run_processes(workdir, steps, tfds_dir, num_processes=2, devices=2, timeout=300):
  port = _free_port()
  procs = [subprocess.Popen(
      _train_cmd(workdir, steps, tfds_dir,
                 f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                 f"--config.distributed.num_processes={num_processes}",
                 f"--config.distributed.process_id={i}"),
      env=_env(devices), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(num_processes)]
  outs = [p.communicate(timeout=timeout)[0] for p in procs]
  for p, out in zip(procs, outs):
    assert p.returncode == 0, out[-3000:]


def _params(workdir, tmp_path):
  """G samples of the final checkpoint: a function of every G parameter and statistic."""
  out = tmp_path / f"{os.path.basename(workdir)}.npz"
  subprocess.run([sys.executable, "-m", "jaxgan.cli", "generate", "--workdir", str(workdir),
                  "--num", "8", "--out", str(out)], env=_env(1), check=True, capture_output=True)
  return np.load(out)["images"]


@pytest.mark.slow
def test_two_processes_equal_one_and_resume_in_one(tmp_path, tfds_dir):
  # Prepare the embedded dataset once, so processes do not race to build it.
  from jaxgan.data import pipeline
  from helpers import tiny_config
  pipeline.make_dataset(tiny_config(tfds_dir))

  single = tmp_path / "single"
  subprocess.run(_train_cmd(single, 4, tfds_dir), env=_env(4), check=True, capture_output=True)
  multi = tmp_path / "multi"
  _run_processes(multi, 2, tfds_dir)            # 2 processes to step 2 ...
  _run_processes(multi, 4, tfds_dir)            # ... resumed by 2 processes to step 4
  np.testing.assert_array_equal(_params(multi, tmp_path), _params(single, tmp_path))

  # A checkpoint written by 2 processes resumes in 1 process with 4 devices.
  proc = subprocess.run(_train_cmd(multi, 6, tfds_dir), env=_env(4), capture_output=True, text=True)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  subprocess.run(_train_cmd(single, 6, tfds_dir), env=_env(4), check=True, capture_output=True)
  np.testing.assert_array_equal(_params(multi, tmp_path), _params(single, tmp_path))


@pytest.mark.parametrize("extra,message", [
    (["--config.distributed.num_processes=2", "--config.distributed.process_id=2",
      "--config.distributed.coordinator_address=127.0.0.1:1234"], "out of range"),
    (["--config.distributed.num_processes=2"], "need distributed.coordinator_address"),
    (["--config.distributed.coordinator_address=nohostport", "--config.distributed.num_processes=2",
      "--config.distributed.process_id=0"], "is not host:port"),
    (["--config.batch_size=6"], "not divisible by the 4 devices"),
])
def test_bad_distributed_settings_fail_fast(tmp_path, extra, message):
  t0 = time.time()
  proc = subprocess.run(_train_cmd(tmp_path / "w", 2, str(tmp_path / "tfds"), *extra),
                        env=_env(4), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("jaxgan:")]
  assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
  assert not (tmp_path / "w").exists()
  assert time.time() - t0 < 60


def test_unreachable_coordinator_fails_within_seconds(tmp_path):
  t0 = time.time()
  proc = subprocess.run(_train_cmd(tmp_path / "w", 2, str(tmp_path / "tfds"),
                                   f"--config.distributed.coordinator_address=127.0.0.1:{_free_port()}",
                                   "--config.distributed.num_processes=2",
                                   "--config.distributed.process_id=1",
                                   "--config.distributed.initialization_timeout_s=5"),
                        env=_env(2), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "could not reach the coordinator" in proc.stderr
  assert time.time() - t0 < 45
  assert not (tmp_path / "w").exists()
