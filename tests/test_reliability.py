"""Issue 4 in-process checks: checkpoint integrity, disk full, non-finite steps, preemption,
run identity, bad image files. The multi-process kill/resume suite is tests/faults/."""

import errno
import functools
import glob
import json
import os
import signal
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from helpers import tiny_config
from jaxgan.data import pipeline
from jaxgan.errors import UsageError
from jaxgan.train import checkpoint as checkpoint_lib
from jaxgan.train import loop, parallel, steps
from jaxgan.train.build import abstract_state, build_gan, image_shape
from jaxgan.train.state import init_state


def _state(c, seed_offset=0):
  gan = build_gan(c)
  state = jax.jit(functools.partial(init_state, gan, c.seed + seed_offset, image_shape(c)))()
  return gan, state


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _saved_run(tmp_path, c, steps_to_save=(1, 2)):
  """A workdir with checkpoints of distinct states at `steps_to_save`."""
  gan, _ = _state(c)
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path), max_to_keep=5)
  states = {}
  for i, s in enumerate(steps_to_save):
    states[s] = _state(c, seed_offset=i)[1]
    ckpt.save(s, states[s])
  ckpt.close()
  return gan, states


def _largest_data_file(workdir, step):
  files = glob.glob(os.path.join(workdir, "checkpoints", str(step), "**", "d", "*"), recursive=True)
  return max(files, key=os.path.getsize)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "delete_metadata"])
def test_corrupt_latest_checkpoint_falls_back_to_previous(tmp_path, tfds_dir, damage, capsys):
  c = tiny_config(tfds_dir)
  gan, states = _saved_run(tmp_path, c)
  assert os.path.isfile(tmp_path / "checkpoint_digests" / "2.json")
  path = _largest_data_file(str(tmp_path), 2)
  if damage == "flip_byte":  # Orbax alone restores this silently wrong (measured)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
  elif damage == "truncate":
    os.truncate(path, os.path.getsize(path) // 2)
  else:
    os.remove(os.path.join(tmp_path, "checkpoints", "2", "_CHECKPOINT_METADATA"))

  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  restored, step = ckpt.restore_latest_good(abstract_state(gan, c, parallel.make_mesh()))
  ckpt.close()
  assert step == 1
  for a, b in zip(_leaves(restored), _leaves(states[1])):
    np.testing.assert_array_equal(a, b)
  err = capsys.readouterr().err
  assert "checkpoint of step 2 is corrupt" in err and "falling back to step 1" in err
  # The corrupt bytes are kept aside, never deleted; the step number is free again.
  moved = os.listdir(tmp_path / "corrupt_checkpoints")
  assert any(n.startswith("2-") and not n.endswith(".json") for n in moved)
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1"]


def test_checkpoint_without_digest_still_restores(tmp_path, tfds_dir):
  """A process killed between Orbax's commit and the digest leaves a usable step."""
  c = tiny_config(tfds_dir)
  gan, states = _saved_run(tmp_path, c)
  os.remove(tmp_path / "checkpoint_digests" / "2.json")
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  restored, step = ckpt.restore_latest_good(abstract_state(gan, c, parallel.make_mesh()))
  ckpt.close()
  assert step == 2
  np.testing.assert_array_equal(_leaves(restored)[-1], _leaves(states[2])[-1])


def test_checkpoint_of_another_model_is_a_usage_error(tmp_path, tfds_dir):
  _saved_run(tmp_path, tiny_config(tfds_dir))
  wider = tiny_config(tfds_dir)
  wider.model.g_width = 8
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  with pytest.raises(UsageError, match="different model: g/.* is \\(8,\\) there and \\(16,\\)"):
    ckpt.restore_latest_good(abstract_state(build_gan(wider), wider, parallel.make_mesh()))
  ckpt.close()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]  # nothing quarantined


def test_intact_checkpoint_of_another_state_layout_is_never_moved(tmp_path, tfds_dir, monkeypatch):
  """Verified bytes that fail to restore (e.g. a newer jaxgan's state layout) are a usage
  error; the checkpoint stays where it is."""
  c = tiny_config(tfds_dir)
  gan, _ = _saved_run(tmp_path, c)
  def restore(self, abstract_state, step=None):
    raise ValueError("User-provided restore item and on-disk value metadata tree structures "
                     "do not match")
  monkeypatch.setattr(checkpoint_lib.Checkpointer, "restore", restore)
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  with pytest.raises(UsageError, match="step 2 .* is intact but does not fit"):
    ckpt.restore_latest_good(abstract_state(gan, c, parallel.make_mesh()))
  ckpt.close()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1", "2"]
  assert not os.path.exists(tmp_path / "corrupt_checkpoints")


def test_too_little_free_space_is_refused_before_writing(tmp_path, tfds_dir, monkeypatch):
  c = tiny_config(tfds_dir)
  _, states = _saved_run(tmp_path, c, steps_to_save=(1,))
  usage = checkpoint_lib.shutil.disk_usage
  monkeypatch.setattr(checkpoint_lib.shutil, "disk_usage",
                      lambda p: usage(p)._replace(free=1000))
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  with pytest.raises(checkpoint_lib.CheckpointError,
                     match=r"checkpoint of step 2 .*: disk full \(not enough space: .*previous checkpoint "
                           r"\(step 1\) is intact"):
    ckpt.save(2, states[1])
  ckpt.close()
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["1"]


def _mount_tmpfs(path, size):
  os.makedirs(path, exist_ok=True)
  try:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True, capture_output=True)
  except (OSError, subprocess.CalledProcessError):
    pytest.skip("mounting a small tmpfs needs root: the fault suite covers disk-full with "
                "RLIMIT_FSIZE instead")


def test_disk_filling_up_during_a_save(tmp_path, tfds_dir, monkeypatch):
  """A real ENOSPC mid-write: a clear error, the temporary files removed, step 1 intact."""
  monkeypatch.setattr(checkpoint_lib, "_state_bytes", lambda state: 0)  # past the pre-check
  disk = tmp_path / "disk"
  _mount_tmpfs(disk, "4m")
  try:
    c = tiny_config(tfds_dir)
    c.model.g_width = c.model.d_width = 16  # ~1.5 MB of state with Adam moments
    gan, states = _saved_run(disk, c, steps_to_save=(1,))
    ballast = disk / "ballast"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    ballast.write_bytes(np.random.default_rng(0).bytes(max(free - 100_000, 0)))
    ckpt = checkpoint_lib.Checkpointer(str(disk))
    with pytest.raises(checkpoint_lib.CheckpointError) as info:
      ckpt.save(2, _state(c, seed_offset=1)[1])
      ckpt.close()  # an asynchronous save's failure surfaces when it is waited for
    assert "step 2" in str(info.value) and "previous checkpoint (step 1) is intact" in str(info.value)
    ballast.unlink()
    assert sorted(n for n in os.listdir(disk / "checkpoints")) == ["1"]
    ckpt = checkpoint_lib.Checkpointer(str(disk))
    restored, step = ckpt.restore_latest_good(abstract_state(gan, c, parallel.make_mesh()))
    ckpt.close()
    assert step == 1
  finally:
    subprocess.run(["umount", str(disk)], check=False)


def test_skip_nonfinite_keeps_the_state(tfds_dir):
  c = tiny_config(tfds_dir, nonfinite="skip")
  gan, state = _state(c)
  step = jax.jit(functools.partial(steps.gan_train_step, gan=gan))
  images = jax.random.uniform(jax.random.PRNGKey(0), (8, 16, 16, 1), minval=-1, maxval=1)
  before = _leaves((state.g, state.d))
  bad, metrics = step(state, {"image": images.at[0, 0, 0, 0].set(jnp.nan)})
  assert float(metrics["skipped"]) == 1.0 and int(bad.step) == 1
  for a, b in zip(_leaves((bad.g, bad.d)), before):
    np.testing.assert_array_equal(a, b)
  good, metrics = step(bad, {"image": images})
  assert float(metrics["skipped"]) == 0.0 and int(good.step) == 2
  assert not np.array_equal(_leaves(good.g)[0], before[0])


def test_nonfinite_policy_name_is_checked(tfds_dir):
  with pytest.raises(UsageError, match="unknown nonfinite policy 'ignore'; valid: stop, skip"):
    build_gan(tiny_config(tfds_dir, nonfinite="ignore"))


def test_skipped_steps_are_counted_not_averaged():
  nan = float("nan")
  history = [{"d_loss": nan, "skipped": 1.0}, {"d_loss": 2.0, "skipped": 0.0},
             {"d_loss": 4.0, "skipped": 0.0}]
  skips = loop._SkipCounter(limit=2)
  assert loop._summarise(history, 10, 10, skips) == {"d_loss": 3.0, "skipped_steps": 1}
  assert skips.run == 0
  # A run of skipped steps across windows stops at the limit.
  assert loop._summarise(history[:1], 13, 10, skips) == {"skipped_steps": 1}
  with pytest.raises(loop.NonFiniteError, match="2 consecutive steps up to step 15 were"):
    loop._summarise(history[:1], 14, 10, skips)
  with pytest.raises(loop.NonFiniteError, match=r"non-finite d_loss at step 12 .*step 10\) was kept"):
    loop._summarise([{"d_loss": 1.0}, {"d_loss": nan}], 10, 10)


def test_a_run_whose_every_step_is_skipped_stops(tmp_path, tfds_dir, monkeypatch):
  from jaxgan import losses
  nan_d_loss = lambda r, f: losses.minimax_d_loss(r, f) * jnp.nan
  monkeypatch.setitem(losses.GAN_LOSSES, "nan_for_test", (nan_d_loss, losses.non_saturating_g_loss))
  c = tiny_config(tfds_dir, loss="nan_for_test", nonfinite="skip", nonfinite_max_skips=3)
  with pytest.raises(loop.NonFiniteError, match="3 consecutive steps up to step 3 were non-finite"):
    loop.train_and_evaluate(c, str(tmp_path / "run"))
  # Step 2's checkpoint holds the untouched initial networks: skipping never writes bad values.
  assert checkpoint_lib.latest_step(str(tmp_path / "run")) == 2


def test_preemption_saves_the_current_step(tmp_path, tfds_dir, monkeypatch):
  """SIGTERM during the first step (sent while it compiles): step 1 is saved, Preempted raised."""
  from jaxgan import losses
  def d_loss_that_signals(r, f):
    os.kill(os.getpid(), signal.SIGTERM)  # runs at trace time, once
    return losses.minimax_d_loss(r, f)
  monkeypatch.setitem(losses.GAN_LOSSES, "signal_for_test",
                      (d_loss_that_signals, losses.non_saturating_g_loss))
  wd = tmp_path / "run"
  c = tiny_config(tfds_dir, loss="signal_for_test", num_train_steps=4)
  with pytest.raises(loop.Preempted, match="SIGTERM at step 1"):
    loop.train_and_evaluate(c, str(wd))
  assert checkpoint_lib.latest_step(str(wd)) == 1
  assert os.path.isfile(wd / "checkpoint_digests" / "1.json")
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_config_change_refused_or_allowed(tmp_path, tfds_dir, capsys):
  wd = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(tfds_dir, num_train_steps=2), wd)
  changed = tiny_config(tfds_dir, num_train_steps=4)
  changed.optimizer_g.lr = 1e-4
  with pytest.raises(UsageError, match="different config \\(fields optimizer_g.lr\\).*"
                                       "--allow-config-change optimizer_g.lr"):
    loop.train_and_evaluate(changed, wd)
  assert checkpoint_lib.latest_step(wd) == 2
  capsys.readouterr()
  loop.train_and_evaluate(changed, wd, allow_changes=["optimizer_g.lr"])
  err = capsys.readouterr().err
  assert "num_train_steps 2 -> 4" in err and "optimizer_g.lr 0.0002 -> 0.0001" in err
  assert json.load(open(os.path.join(wd, "config.json")))["optimizer_g"]["lr"] == 1e-4


def test_resume_on_fewer_devices_says_what_changed(tmp_path, tfds_dir, monkeypatch, capsys):
  wd = str(tmp_path / "run")
  loop.train_and_evaluate(tiny_config(tfds_dir, num_train_steps=2), wd)
  make_mesh = parallel.make_mesh
  monkeypatch.setattr(parallel, "make_mesh",
                      lambda d=None: make_mesh(jax.devices()[:4] if d is None else d))
  monkeypatch.setattr(loop, "_topology", lambda mode: {"process_count": 1, "device_count": 4,
                                                       "device_kind": "cpu", "parallel": mode})
  capsys.readouterr()
  loop.train_and_evaluate(tiny_config(tfds_dir, num_train_steps=4), wd)
  assert "resuming step 2 on different hardware: device_count 8 -> 4" in capsys.readouterr().err
  rows = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [2, 4]


def _bad_image_folder(path):
  rng = np.random.default_rng(0)
  path.mkdir()
  for i in range(5):
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(path / f"good{i}.png")
  Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(path / "cut.jpg")
  os.truncate(path / "cut.jpg", os.path.getsize(path / "cut.jpg") // 2)
  Image.fromarray(rng.integers(0, 255, (20, 20), np.uint8)).save(path / "cut.png")
  os.truncate(path / "cut.png", os.path.getsize(path / "cut.png") // 2)
  (path / "text.png").write_text("not an image")
  (path / "empty.png").write_bytes(b"")
  return path


def test_bad_images_are_skipped_with_a_count(tmp_path, capsys):
  folder = str(_bad_image_folder(tmp_path / "imgs"))
  c = tiny_config("", dataset=folder, channels=3, batch_size=5)
  batch = next(pipeline.numpy_batches(pipeline.make_dataset(c)))
  assert batch["image"].shape == (5, 16, 16, 3)
  assert "skipping 4 of 9 files" in capsys.readouterr().err
  c.bad_images = "error"
  with pytest.raises(UsageError, match="4 of 9 files in image folder .* do not decode"):
    pipeline.make_dataset(c)


def test_a_folder_of_only_bad_images_is_an_error(tmp_path):
  (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
  with pytest.raises(UsageError, match="none of the 1 files in image folder .* decodes"):
    pipeline.make_dataset(tiny_config("", dataset=str(tmp_path), batch_size=1))


def test_disk_full_while_writing_the_digest_says_disk_full(tmp_path, tfds_dir, monkeypatch):
  """The disk can fill just after a save completes, while its digest is written (the
  fault suite's tmpfs hit it once): the error names the full disk like every other."""
  c = tiny_config(tfds_dir)
  ckpt = checkpoint_lib.Checkpointer(str(tmp_path))
  ckpt.save(1, _state(c)[1])
  ckpt.finish_pending()

  def full(step):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(ckpt, "_write_digest", full)
  ckpt.save(2, _state(c, seed_offset=1)[1])
  with pytest.raises(checkpoint_lib.CheckpointError) as info:
    ckpt.finish_pending()
  ckpt.close()
  assert "digest could not be written: disk full (No space left on device)" in str(info.value)
  assert "previous checkpoint (step 1) is intact" in str(info.value)
