"""Data parallelism: the same pure step under sharded jit (default) or pmap.

Sharded jit: a 1-D mesh over every device of every process; the state is
replicated, the global batch split along the mesh's 'data' axis. XLA's SPMD
partitioner inserts the gradient all-reduce, and BatchNorm's batch mean and
variance become global-batch statistics (synchronised BatchNorm) for free.

pmap: the step runs per device with `axis_name`; it averages gradients and metrics
with pmean, and the models synchronise BatchNorm over the same axis.

Both expose one interface to the loop (`DataParallel`), and checkpoints hold the
same replicated global arrays in both modes, so a run may switch between them.
"""

import functools

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.errors import UsageError

DATA_AXIS = "data"
PMAP_AXIS = "batch"
MODES = ("sharded", "pmap")


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  if global_batch % mesh.size:
    raise UsageError(f"batch_size={global_batch} is not divisible by the {mesh.size} devices")


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Per-process NumPy batches -> global jax.Arrays sharded along the batch axis."""
  sharding = data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v) for k, v in local_batch.items()}


def jit_init(init_fn, mesh: Mesh):
  """init_fn() -> state, built directly as a replicated array on every device."""
  return jax.jit(init_fn, out_shardings=replicated(mesh))


def jit_train_step(step_fn, mesh: Mesh):
  """step_fn(state, batch) -> (state, metrics) under sharded jit; the old state is donated."""
  return jax.jit(step_fn, in_shardings=(replicated(mesh), data_sharded(mesh)),
                 out_shardings=(replicated(mesh), replicated(mesh)), donate_argnums=0)


def place_replicated(tree, mesh: Mesh):
  """Host arrays (the same in every process) as global arrays replicated over `mesh`."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)


def abstract_like(tree, sharding):
  """ShapeDtypeStructs of `tree` with `sharding` (restore targets)."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def local_copy(tree):
  """This process's copy of a replicated tree, on its first local device.

  Host-side work (logging, sampling on one process) must not run collectives over
  devices of other processes; a replicated array holds the full value on each device.
  """
  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return x.addressable_data(0)
    return x
  return jax.tree.map(one, tree)


class ShardedParallel:
  """State replicated over the mesh; step under sharded jit."""

  mode = "sharded"

  def __init__(self, step_fn, mesh: Mesh):
    self.mesh = mesh
    self._step = jit_train_step(step_fn, mesh)

  def init(self, init_fn):
    return jit_init(init_fn, self.mesh)()

  def step(self, state, local_batch: dict):
    return self._step(state, global_batch(local_batch, self.mesh))

  def to_checkpoint(self, state):
    return state

  def from_checkpoint(self, state):
    return state

  def host_view(self, tree):
    """Metrics or parameters as this process's local (single-device) arrays."""
    return local_copy(tree)


class PmapParallel:
  """State replicated per local device (leading device axis); step under jax.pmap."""

  mode = "pmap"

  def __init__(self, step_fn, mesh: Mesh):
    self.mesh = mesh
    self.devices = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    self._step = jax.pmap(functools.partial(step_fn, axis_name=PMAP_AXIS),
                          axis_name=PMAP_AXIS, donate_argnums=0)

  def _replicate(self, tree):
    """One copy per local device, stacked on a leading device axis."""
    n = len(self.devices)
    sharding = NamedSharding(Mesh(np.asarray(self.devices), (PMAP_AXIS,)), P(PMAP_AXIS))
    return jax.tree.map(
        lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (n, *np.shape(x))), sharding), tree)

  def init(self, init_fn):
    return self._replicate(jax.jit(init_fn)())

  def step(self, state, local_batch: dict):
    n = len(self.devices)
    batch = {k: v.reshape(n, v.shape[0] // n, *v.shape[1:]) for k, v in local_batch.items()}
    return self._step(state, batch)

  def to_checkpoint(self, state):
    """Per-device replicas -> the replicated global arrays sharded jit uses."""
    sharding = replicated(self.mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x[0])), state)

  def from_checkpoint(self, state):
    return self._replicate(local_copy(state))

  def host_view(self, tree):
    return jax.tree.map(lambda x: x[0], tree)


def make_parallel(mode: str, step_fn, mesh: Mesh):
  """The DataParallel for `mode` ("sharded" or "pmap") running `step_fn(state, batch, axis_name=)`."""
  if mode == "sharded":
    return ShardedParallel(step_fn, mesh)
  if mode == "pmap":
    return PmapParallel(step_fn, mesh)
  raise UsageError(f"unknown parallel mode {mode!r}; valid: {', '.join(MODES)}")
