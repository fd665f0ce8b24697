"""Data parallelism: a 1-D device mesh, sharded jit of the pure step, global batch assembly.

The state is replicated and the global batch is split along the mesh's 'data' axis;
XLA's SPMD partitioner inserts the gradient all-reduce, and BatchNorm's batch mean
and variance become global-batch statistics (synchronised BatchNorm) for free.
"""


import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan.errors import UsageError

DATA_AXIS = "data"


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


def abstract_like(tree, sharding):
  """ShapeDtypeStructs of `tree` with `sharding` (restore targets)."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


