"""The host loop: batches -> step -> metrics/logs/samples -> checkpoints.

Everything that can fail on user input (config, model, dataset) is checked before
the first byte is written to the workdir.
"""

import functools
import json
import math
import os
import sys
import time

import jax
import ml_collections
import numpy as np
import tqdm

from jaxgan import config as config_lib
from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.errors import UsageError
from jaxgan.train import checkpoint as checkpoint_lib
from jaxgan.train import parallel, steps
from jaxgan.train.build import abstract_state, build_gan, image_shape  # noqa: F401 (re-exported)
from jaxgan.train.state import GANDef, GANState, init_state

# Fields that may change when a workdir is resumed; any other difference is refused.
RESUMABLE_FIELDS = frozenset({"num_train_steps", "checkpoint_every_steps", "log_every_steps",
                              "sample_every_steps", "keep_checkpoints", "data_dir",
                              "progress_bar", "parallel", "distributed"})


class NonFiniteError(RuntimeError):
  """A loss, gradient norm or parameter norm became NaN or Inf."""


def restore_state(workdir: str, config, gan: GANDef, mesh) -> GANState:
  """The latest checkpoint of `workdir`, replicated over `mesh`."""
  ckpt = checkpoint_lib.Checkpointer(workdir)
  try:
    return ckpt.restore(abstract_state(gan, config, mesh))
  finally:
    ckpt.close()


def _check_workdir(workdir: str, config) -> None:
  """Refuses a workdir that is a file, or that holds a run of a different config."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UsageError(f"workdir {workdir!r} exists and is not a directory")
  saved = os.path.join(workdir, "config.json")
  if os.path.isfile(saved):
    with open(saved) as f:
      old = json.load(f)
    new = json.loads(config_lib.to_json(config))
    changed = sorted(k for k in set(old) | set(new)
                     if k not in RESUMABLE_FIELDS and old.get(k) != new.get(k))
    if changed:
      raise UsageError(f"workdir {workdir!r} holds a run with a different config "
                       f"(fields {', '.join(changed)}); use a new --workdir")


def _write_json_atomic(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


class _Logger:
  """Metrics to JSONL and TensorBoard, samples to PNG and TensorBoard. Process 0 only."""

  def __init__(self, workdir: str, enabled: bool):
    self.enabled = enabled
    if not enabled:
      return
    from tensorboardX import SummaryWriter
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    self.samples_dir = os.path.join(workdir, "samples")
    self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def scalars(self, step: int, values: dict) -> None:
    if not self.enabled:
      return
    self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
    self.jsonl.flush()
    for k, v in values.items():
      self.tb.add_scalar(k, v, step)

  def grid(self, step: int, images: np.ndarray) -> str | None:
    if not self.enabled:
      return None
    grid = image_lib.make_grid(image_lib.to_uint8(images))
    path = os.path.join(self.samples_dir, f"step_{step:07d}.png")
    image_lib.save_png(path, grid)
    self.tb.add_image("samples", grid, step, dataformats="HWC")
    return path

  def close(self) -> None:
    if self.enabled:
      self.jsonl.close()
      self.tb.close()


def _summarise(history: list[dict], first_step: int) -> dict:
  """Means of the metrics of steps [first_step, first_step + len(history)); checks finiteness."""
  host = jax.device_get(history)
  summary = {k: float(np.mean([h[k] for h in host])) for k in host[0]}
  bad = sorted(k for k, v in summary.items() if not math.isfinite(v))
  if bad:
    raise NonFiniteError(f"non-finite {', '.join(bad)} between steps {first_step + 1} and "
                         f"{first_step + len(history)}; the last checkpoint was kept")
  return summary


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> GANState:
  """Trains the GAN `config` describes in `workdir`, resuming from its latest checkpoint."""
  from jaxgan.data import pipeline  # TensorFlow stays out of inference-only imports

  config_lib.validate(config)
  workdir = os.path.abspath(os.path.expanduser(workdir))
  _check_workdir(workdir, config)
  mode = config.get("parallel", "sharded")
  gan = build_gan(config, bn_axis_name=parallel.PMAP_AXIS if mode == "pmap" else None)
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.batch_size, mesh)
  accum = config.get("grad_accum_steps", 1)
  if accum < 1 or (config.batch_size // mesh.size) % accum:
    raise UsageError(f"grad_accum_steps={accum} must divide the per-device batch "
                     f"{config.batch_size // mesh.size}")
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)
  start_step = checkpoint_lib.latest_step(workdir) or 0

  # Data before anything is written: an unknown dataset or an unreadable folder fails here.
  ds = pipeline.make_dataset(config, process_index=jax.process_index(),
                             process_count=jax.process_count(), start_step=start_step)
  batches = pipeline.numpy_batches(ds)
  first_batch = next(batches)

  is_chief = jax.process_index() == 0
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    _write_json_atomic(os.path.join(workdir, "config.json"), config_lib.to_json(config))
  ckpt = checkpoint_lib.Checkpointer(workdir, max_to_keep=config.get("keep_checkpoints", 3))
  if start_step:
    state = runner.from_checkpoint(
        ckpt.restore(abstract_state(gan, config, mesh), step=start_step))
  else:
    state = runner.init(functools.partial(init_state, gan, config.seed, image_shape(config)))
  generate = sampling.make_generate_fn(gan.generator)
  sample_z = sampling.latents_for_indices(config.seed + 1, np.arange(config.get("num_samples", 64)),
                                          gan.latent_dim)
  logger = _Logger(workdir, enabled=is_chief)

  num_steps = config.num_train_steps
  history, window_start, window_time = [], start_step, time.perf_counter()
  bar = tqdm.tqdm(total=num_steps, initial=start_step, unit="step", dynamic_ncols=True,
                  mininterval=0.5 if sys.stderr.isatty() else 30.0,  # quiet in log files
                  disable=not is_chief or not config.get("progress_bar", True))
  batch = first_batch
  try:
    for step in range(start_step, num_steps):
      state, metrics = runner.step(state, batch)
      history.append(metrics)
      done = step + 1
      bar.update(1)
      last = done == num_steps
      if done % config.log_every_steps == 0 or done % config.checkpoint_every_steps == 0 or last:
        summary = _summarise(runner.host_view(history), window_start)
        elapsed = time.perf_counter() - window_time
        summary["steps_per_s"] = len(history) / elapsed
        summary["images_per_s"] = summary["steps_per_s"] * config.batch_size
        logger.scalars(done, summary)
        bar.set_postfix(d_loss=f"{summary['d_loss']:.3f}", g_loss=f"{summary['g_loss']:.3f}",
                        refresh=False)
        history, window_start, window_time = [], done, time.perf_counter()
      if is_chief and (done % config.sample_every_steps == 0 or last):
        g = runner.host_view(state.g)
        logger.grid(done, np.asarray(generate(g.params, g.batch_stats, sample_z)))
      if done % config.checkpoint_every_steps == 0 or last:
        ckpt.save(done, runner.to_checkpoint(state))
      if not last:
        batch = next(batches)
  finally:
    batches.close()  # releases the tf.data iterator and its threads now, not at GC time
    bar.close()
    ckpt.close()
    logger.close()
  return state
