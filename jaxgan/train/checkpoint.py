"""Orbax checkpoints of the whole GANState in `workdir/checkpoints`, with integrity digests.

Orbax writes each step to a temporary directory and renames it when complete, so a
crash mid-save never leaves a half-written checkpoint that restore would pick, and
it deletes old steps (beyond `max_to_keep`) only after the new one is committed.

Orbax does not notice flipped bits: its compressed chunks restore silently wrong
values (measured). So once a save has finished, process 0 records the SHA-256 of
every file of the step in `workdir/checkpoint_digests/STEP.json`. `restore_latest_good`
checks the newest step against its digest and its shapes against the model before
trusting it; a step that fails is moved (never deleted) to `workdir/corrupt_checkpoints/`
and the next older one is tried.
"""

import dataclasses
import errno
import hashlib
import json
import logging
import os
import shutil
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxgan.errors import UsageError

# OSError numbers that mean "the disk cannot take this write".
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CheckpointError(RuntimeError):
  """A checkpoint could not be written (disk full, I/O error); earlier ones are intact."""


def _warn(message: str) -> None:
  print(f"jaxgan: warning: {message}", file=sys.stderr, flush=True)


def _step_files(step_dir: str) -> list[str]:
  """Relative paths of every file under `step_dir`, sorted."""
  files = []
  for root, _, names in os.walk(step_dir):
    files.extend(os.path.relpath(os.path.join(root, n), step_dir) for n in names)
  return sorted(files)


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def _disk_full(error: Exception) -> str | None:
  """'disk full (<OS message>)' when `error` or its cause is a full disk or quota, else None."""
  cause = error
  while cause is not None and not isinstance(cause, OSError):
    cause = cause.__cause__ or cause.__context__
  if isinstance(cause, OSError) and cause.errno in DISK_FULL_ERRNOS:
    return f"disk full ({os.strerror(cause.errno)})"
  for code in DISK_FULL_ERRNOS:  # TensorStore reports the OS error inside its own text
    if os.strerror(code) in str(error) or f"os_error_code='{code}'" in str(error):
      return f"disk full ({os.strerror(code)})"
  return None


def _state_bytes(state) -> int:
  return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))


class Checkpointer:
  """Saves and restores GANState pytrees; keeps the newest `max_to_keep`."""

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, "checkpoints")
    self.digest_dir = os.path.join(self.workdir, "checkpoint_digests")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))
    self._undigested: int | None = None  # a step whose save may still be running

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  # --- saving ------------------------------------------------------------------------------

  def save(self, step: int, state) -> None:
    """Starts an asynchronous save of `state` as `step` (a no-op if that step exists).

    Raises CheckpointError, before writing anything, when the disk has less free space
    than the state's size; and when the previous asynchronous save failed.
    """
    self.finish_pending()
    if step in self._manager.all_steps():
      return
    os.makedirs(self.directory, exist_ok=True)
    need, free = _state_bytes(state), shutil.disk_usage(self.directory).free
    if free < need:
      raise CheckpointError(
          f"could not write the checkpoint of step {step} in {self.directory}: disk full "
          f"(not enough space: needs up to {need / 2**20:.1f} MiB, {free / 2**20:.1f} MiB "
          f"free); {self._kept_message()}")
    try:
      self._manager.save(step, args=ocp.args.StandardSave(state))
    except Exception as e:
      self._raise_save_error(step, e)
    self._undigested = step

  def poll(self) -> None:
    """Finishes a save that completed in the background (digest now, errors now): cheap."""
    if self._undigested is not None and not self._manager.is_saving_in_progress():
      self.finish_pending()

  def finish_pending(self) -> None:
    """Waits for a running save, then records its digest; raises CheckpointError if it failed."""
    if self._undigested is None:
      return
    step = self._undigested
    try:
      self._manager.wait_until_finished()
      self._manager.check_for_errors()
    except Exception as e:
      self._raise_save_error(step, e)
    finally:
      self._undigested = None
    if jax.process_index() == 0:
      try:
        self._write_digest(step)
        self._drop_stale_digests()
      except OSError as e:
        reason = _disk_full(e) or e.strerror
        raise CheckpointError(f"the checkpoint of step {step} is complete but its digest could "
                              f"not be written: {reason}; {self._kept_message(step)}") from e

  def _raise_save_error(self, step: int, error: Exception) -> None:
    self._remove_temporaries(step)
    reason = _disk_full(error) or (
        f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    raise CheckpointError(f"could not write the checkpoint of step {step} in {self.directory}: "
                          f"{reason}; {self._kept_message(step)}") from error

  def _kept_message(self, failed_step: int | None = None) -> str:
    steps = [s for s in self._manager.all_steps() if s != failed_step]
    return (f"the previous checkpoint (step {max(steps)}) is intact" if steps
            else "no earlier checkpoint exists")

  def _remove_temporaries(self, step: int) -> None:
    """Deletes the unfinished temporary directory of `step` (frees the disk it filled)."""
    if jax.process_index() != 0 or not os.path.isdir(self.directory):
      return
    for name in os.listdir(self.directory):
      if name.startswith(f"{step}.") and "tmp" in name:
        shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

  def _write_digest(self, step: int) -> None:
    step_dir = os.path.join(self.directory, str(step))
    digest = {f: _sha256(os.path.join(step_dir, f)) for f in _step_files(step_dir)}
    os.makedirs(self.digest_dir, exist_ok=True)
    path = os.path.join(self.digest_dir, f"{step}.json")
    with open(path + ".tmp", "w") as f:
      json.dump({"step": step, "files": digest}, f, indent=1)
    os.replace(path + ".tmp", path)

  def _drop_stale_digests(self) -> None:
    kept = {f"{s}.json" for s in self._manager.all_steps()}
    for name in os.listdir(self.digest_dir):
      if name.endswith(".json") and name not in kept:
        os.remove(os.path.join(self.digest_dir, name))

  # --- restoring ---------------------------------------------------------------------------

  def verify(self, step: int, abstract_state) -> str | None:
    """Why `step` cannot be trusted (a one-line reason), or None if it can.

    Raises UsageError when the checkpoint is intact but holds a different model.
    """
    step_dir = os.path.join(self.directory, str(step))
    digest_path = os.path.join(self.digest_dir, f"{step}.json")
    if os.path.isfile(digest_path):
      try:
        with open(digest_path) as f:
          expected = json.load(f)["files"]
      except (OSError, ValueError, KeyError) as e:
        return f"its digest file is unreadable ({type(e).__name__})"
      actual = _step_files(step_dir)
      if sorted(expected) != actual:
        missing = sorted(set(expected) - set(actual))
        return f"files missing or added ({', '.join(missing[:3]) or 'extra files'})"
      for name, sha in expected.items():
        if _sha256(os.path.join(step_dir, name)) != sha:
          return f"{name} does not match its digest"
    # Without a digest (the process died between commit and digest) the shapes and a
    # full restore are all that can be checked.
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)  # Orbax warns that the item has no step metadata: expected
    try:
      saved = ocp.StandardCheckpointer().metadata(os.path.join(step_dir, "default")).item_metadata
    except Exception as e:
      return f"its metadata is unreadable ({type(e).__name__})"
    finally:
      absl_logger.setLevel(level)
    _check_same_structure(step, saved, abstract_state)
    return None

  def restore(self, abstract_state, step: int | None = None):
    """The state saved at `step` (default: latest), laid out as `abstract_state` says."""
    step = self.latest_step() if step is None else step
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
    except ValueError as e:
      if getattr(abstract_state, "extras", None) != {} or "extras" not in str(e):
        raise
    # Written before GANState had `extras` (empty for every model but StyleGAN2): restore
    # the other fields and keep extras = {}.
    fields = {f.name: getattr(abstract_state, f.name) for f in dataclasses.fields(abstract_state)
              if f.name != "extras"}
    restored = self._manager.restore(step, args=ocp.args.StandardRestore(fields))
    return abstract_state.replace(**restored)

  def restore_latest_good(self, abstract_state):
    """(state, step) of the newest checkpoint that verifies and restores; (None, None) if none.

    Corrupt steps are reported and moved to workdir/corrupt_checkpoints (process 0),
    so later saves of the same step number do not collide with them.
    """
    for step in sorted(self._manager.all_steps(), reverse=True):
      reason = self.verify(step, abstract_state)
      if reason is None:
        try:
          state = self.restore(abstract_state, step)
          if all(bool(np.all(np.isfinite(np.asarray(jax.device_get(x)))))
                 for x in jax.tree.leaves(state) if np.issubdtype(x.dtype, np.floating)):
            return state, step
          reason = "it holds non-finite values"
        except Exception as e:
          message = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
          if self._has_digest(step) or "structure" in message:
            # Intact bytes that do not fit this state: another model or code version, not
            # corruption. Never move a good checkpoint aside for that.
            raise UsageError(f"checkpoint of step {step} in {self.directory} is intact but does "
                             f"not fit this config's training state ({message}); use a new "
                             "--workdir, or the jaxgan version that wrote it") from None
          reason = f"it does not restore ({type(e).__name__}: {message})"
      self._quarantine(step, reason)
    return None, None

  def _has_digest(self, step: int) -> bool:
    return os.path.isfile(os.path.join(self.digest_dir, f"{step}.json"))

  def _quarantine(self, step: int, reason: str) -> None:
    older = [s for s in self._manager.all_steps() if s < step]
    _warn(f"checkpoint of step {step} is corrupt: {reason}; "
          + (f"falling back to step {max(older)}" if older else "no older checkpoint exists"))
    if jax.process_count() > 1:  # nobody may still be reading it
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"jaxgan_verified_{step}")
    if jax.process_index() == 0:
      dest = os.path.join(self.workdir, "corrupt_checkpoints", f"{step}-{int(time.time())}")
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      shutil.move(os.path.join(self.directory, str(step)), dest)
      digest = os.path.join(self.digest_dir, f"{step}.json")
      if os.path.isfile(digest):
        shutil.move(digest, dest + ".digest.json")
      _warn(f"moved it to {dest}")
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"jaxgan_quarantine_{step}")
    self._manager.reload()

  def close(self) -> None:
    """Waits for pending saves (recording their digests), then releases the manager."""
    try:
      self.finish_pending()
    finally:
      self._manager.close()


def _leaf_shapes(tree) -> dict[tuple[str, ...], tuple[int, ...]]:
  """{path as names: shape}; dataclass fields, dict keys and tuple indices alike, so a
  GANState and Orbax's metadata of it (dicts all the way) compare equal."""
  name = lambda k: str(getattr(k, "name", getattr(k, "key", getattr(k, "idx", k))))
  return {tuple(name(k) for k in path): tuple(x.shape)
          for path, x in jax.tree_util.tree_leaves_with_path(tree)}


def _check_same_structure(step: int, saved, abstract_state) -> None:
  """UsageError if the saved arrays' names or shapes differ from the model's."""
  expected, got = _leaf_shapes(abstract_state), _leaf_shapes(saved)
  for path in sorted(set(expected) | set(got)):
    if expected.get(path) != got.get(path):
      raise UsageError(f"checkpoint of step {step} holds a different model: {'/'.join(path)} is "
                       f"{got.get(path, 'absent')} there and {expected.get(path, 'absent')} in "
                       f"this config; use a new --workdir")


def latest_step(workdir: str) -> int | None:
  """The newest finished checkpoint step in `workdir`, or None; never creates anything.

  Orbax names finished steps by their number and unfinished ones with a tmp suffix.
  """
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return None
  return max((int(n) for n in os.listdir(directory) if n.isdigit()), default=None)
