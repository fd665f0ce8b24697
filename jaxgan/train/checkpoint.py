"""Orbax checkpoints of the whole GANState in `workdir/checkpoints`.

Orbax writes each step to a temporary directory and renames it when complete, so a
crash mid-save never leaves a half-written checkpoint that restore would pick.
"""

import os

import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores GANState pytrees; keeps the newest `max_to_keep`."""

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    """Starts an asynchronous save of `state` as `step` (a no-op if that step exists)."""
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.StandardSave(state))

  def restore(self, abstract_state, step: int | None = None):
    """The state saved at `step` (default: latest), laid out as `abstract_state` says."""
    step = self.latest_step() if step is None else step
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

  def close(self) -> None:
    """Waits for pending saves, then releases the manager."""
    self._manager.wait_until_finished()
    self._manager.close()


def latest_step(workdir: str) -> int | None:
  """The newest finished checkpoint step in `workdir`, or None; never creates anything.

  Orbax names finished steps by their number and unfinished ones with a tmp suffix.
  """
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return None
  return max((int(n) for n in os.listdir(directory) if n.isdigit()), default=None)
