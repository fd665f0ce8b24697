"""Multi-process (multi-host) start-up with JAX's own distributed runtime.

Settings come from the config group `distributed` or, where a field is unset, from the
environment variables JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
On TPU pods and SLURM clusters JAX finds them itself: set `distributed.auto_detect`.
Must run before anything else touches JAX's devices.
"""

import os
import socket
import time

import jax
import ml_collections

from jaxgan.errors import UsageError


def default_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      coordinator_address="",      # "host:port" of process 0; "" = $JAX_COORDINATOR_ADDRESS
      num_processes=0,             # 0 = $JAX_NUM_PROCESSES
      process_id=-1,               # -1 = $JAX_PROCESS_ID
      auto_detect=False,           # let JAX find the cluster (TPU pod slices, SLURM, ...)
      initialization_timeout_s=60,  # a coordinator that does not answer fails after this
  ))


def _setting(value, env: str, unset):
  if value != unset:
    return value
  raw = os.environ.get(env)
  if raw is None:
    return unset
  try:
    return type(unset)(raw)
  except ValueError:
    raise UsageError(f"${env}={raw!r} is not a valid {type(unset).__name__}") from None


def _wait_for_coordinator(host: str, port: int, timeout_s: float) -> None:
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host, port), timeout=1.0):
        return
    except OSError as e:
      if time.monotonic() >= deadline:
        raise UsageError(f"could not reach the coordinator at {host}:{port} within "
                         f"{timeout_s:g}s ({e.strerror or e}); is process 0 running?") from None
      time.sleep(0.5)


def initialize(config: ml_collections.ConfigDict) -> bool:
  """Joins the job described by config.distributed / the environment; False if single-process."""
  d = config.get("distributed") or default_config()
  address = _setting(d.coordinator_address, "JAX_COORDINATOR_ADDRESS", "")
  num = _setting(d.num_processes, "JAX_NUM_PROCESSES", 0)
  pid = _setting(d.process_id, "JAX_PROCESS_ID", -1)
  if not address and not d.auto_detect:
    if num > 1:
      raise UsageError(f"{num} processes need distributed.coordinator_address (host:port)")
    return False
  if address:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
      raise UsageError(f"coordinator address {address!r} is not host:port")
    if num < 1:
      raise UsageError("distributed.num_processes must be set (>= 1) with a coordinator address")
    if not 0 <= pid < num:
      raise UsageError(f"process_id={pid} is out of range for {num} processes (0..{num - 1})")
  if jax.config.jax_platforms in (None, "", "cpu") and address:
    # CPU-only runs (tests, CPU clusters) need a collectives backend across processes.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if address and pid != 0:
    # JAX aborts the whole process (no exception) when the coordinator never answers;
    # probe it first so that the user gets one clear line instead.
    _wait_for_coordinator(host, int(port), float(d.initialization_timeout_s))
  kwargs = dict(initialization_timeout=int(d.initialization_timeout_s))
  if address:
    kwargs.update(coordinator_address=address, num_processes=num, process_id=pid)
  try:
    jax.distributed.initialize(**kwargs)
  except Exception as e:  # unreachable coordinator, clashing ids, no cluster detected, ...
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise UsageError(f"could not join the distributed job at {address or 'auto-detected'} "
                     f"within {d.initialization_timeout_s}s: {first[:300]}") from None
  return True
