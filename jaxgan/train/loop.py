"""The host loop: batches -> step -> metrics/logs/samples -> checkpoints.

Everything that can fail on user input (config, model, dataset) is checked before
the first byte is written to the workdir.
"""

import functools
import json
import math
import os
import signal
import sys
import threading
import time
from typing import Sequence

import jax
import ml_collections
import numpy as np
import tqdm

from jaxgan import config as config_lib
from jaxgan import images as image_lib
from jaxgan import models
from jaxgan import sampling
from jaxgan.errors import UsageError
from jaxgan.train import checkpoint as checkpoint_lib
from jaxgan.train import parallel, steps, warm_start
from jaxgan.train.build import (abstract_state, build_gan, image_shape,  # noqa: F401 (re-exported)
                                is_translation)
from jaxgan.train.state import GANDef, GANState, init_state

# Fields that may change when a workdir is resumed; any other difference is refused.
RESUMABLE_FIELDS = frozenset({"num_train_steps", "checkpoint_every_steps", "log_every_steps",
                              "sample_every_steps", "keep_checkpoints", "data_dir",
                              "progress_bar", "parallel", "distributed", "bad_images",
                              "nonfinite", "nonfinite_max_skips", "eval",
                              "preemption_sync_every_steps"})


class NonFiniteError(RuntimeError):
  """A loss, gradient norm or parameter norm became NaN or Inf."""


def restore_state(workdir: str, config, gan: GANDef, mesh) -> GANState:
  """The newest good checkpoint of `workdir`, replicated over `mesh`."""
  ckpt = checkpoint_lib.Checkpointer(workdir)
  try:
    state, step = ckpt.restore_latest_good(abstract_state(gan, config, mesh))
  finally:
    ckpt.close()
  if state is None:
    raise UsageError(f"workdir {workdir!r} holds no usable checkpoint")
  return state


def _flatten(tree: dict, prefix: str = "") -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}."""
  flat = {}
  for k, v in tree.items():
    if isinstance(v, dict) and v:
      flat.update(_flatten(v, f"{prefix}{k}."))
    else:
      flat[f"{prefix}{k}"] = v
  return flat


def _check_workdir(workdir: str, config, allow_changes: Sequence[str] = ()) -> None:
  """Refuses a workdir that is a file, or that holds a run of a different config.

  Fields in RESUMABLE_FIELDS (and their sub-fields) may change on resume; others only
  when named in `allow_changes` (e.g. "optimizer_g.lr"). Every change is announced.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UsageError(f"workdir {workdir!r} exists and is not a directory")
  saved = os.path.join(workdir, "config.json")
  if not os.path.isfile(saved):
    return
  try:
    with open(saved) as f:
      old = _flatten(json.load(f))
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read {saved} ({type(e).__name__}); the workdir's run identity is "
                     "unknown: use a new --workdir") from None
  new = _flatten(json.loads(config_lib.to_json(config)))
  changed = sorted(k for k in set(old) | set(new) if old.get(k, "<absent>") != new.get(k, "<absent>"))
  top = lambda field: field.split(".")[0]
  allowed = lambda f: top(f) in RESUMABLE_FIELDS or any(
      f == a or f.startswith(a + ".") for a in allow_changes)
  refused = [f for f in changed if not allowed(f)]
  if refused:
    raise UsageError(f"workdir {workdir!r} holds a run with a different config (fields "
                     f"{', '.join(refused)}); use a new --workdir, or resume anyway with "
                     f"--allow-config-change {','.join(refused)}")
  if changed and jax.process_index() == 0:
    print("jaxgan: resuming with changed config: " + "; ".join(
        f"{f} {old.get(f, '<absent>')!r} -> {new.get(f, '<absent>')!r}" for f in changed),
          file=sys.stderr)


def _write_json_atomic(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def _topology(mode: str) -> dict:
  return {"process_count": jax.process_count(), "device_count": jax.device_count(),
          "device_kind": jax.devices()[0].device_kind, "parallel": mode}


def _announce_topology_change(workdir: str, now: dict, start_step: int) -> None:
  """Says what changed when a run resumes on other hardware (it continues unchanged:
  the global batch and every random stream depend on the step alone)."""
  path = os.path.join(workdir, "topology.json")
  try:
    with open(path) as f:
      before = json.load(f)
  except (OSError, ValueError):
    return
  changes = [f"{k} {before.get(k)} -> {v}" for k, v in now.items() if before.get(k) != v]
  if changes:
    print(f"jaxgan: resuming step {start_step} on different hardware: {'; '.join(changes)}; "
          "the global batch and the data order are unchanged", file=sys.stderr)


def _rollback_metrics(workdir: str, start_step: int) -> None:
  """Drops metrics.jsonl rows of steps after the checkpoint being resumed: those steps
  run again (deterministically) and log again, so the file never holds a step twice."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.isfile(path):
    return
  with open(path) as f:
    lines = f.readlines()
  keep = []
  for line in lines:
    try:
      if json.loads(line)["step"] <= start_step:
        keep.append(line)
    except (ValueError, KeyError, TypeError):
      pass  # a line cut by a kill mid-write
  if len(keep) != len(lines):
    _write_json_atomic(path, "".join(keep))


class _Logger:
  """Metrics to JSONL and TensorBoard, samples to PNG and TensorBoard. Process 0 only."""

  def __init__(self, workdir: str, enabled: bool):
    self.enabled = enabled
    if not enabled:
      return
    from tensorboardX import SummaryWriter
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    self.samples_dir = os.path.join(workdir, "samples")
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self.jsonl = open(self.jsonl_path, "a")
    self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def scalars(self, step: int, values: dict) -> None:
    if not self.enabled:
      return
    try:
      self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
      self.jsonl.flush()
    except OSError as e:  # name the file: a full disk must say where
      raise OSError(e.errno, e.strerror, self.jsonl_path) from e
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
      for f in (self.jsonl, self.tb):
        try:
          f.close()
        except OSError:
          pass  # every row was flushed when written; a failing close loses nothing


class _SkipCounter:
  """Consecutive steps skipped as non-finite (nonfinite="skip"); too many stop the run."""

  def __init__(self, limit: int):
    self.limit, self.run = limit, 0


def _summarise(history: list[dict], first_step: int, kept_step: int | None,
               skips: _SkipCounter | None = None) -> dict:
  """Means of the metrics of steps [first_step + 1, first_step + len(history)].

  Raises NonFiniteError naming the first step and quantities that are not finite.
  Steps the train step skipped (nonfinite="skip") are counted, not averaged; `skips`
  tracks them across windows and stops the run after `skips.limit` in a row.
  """
  host = jax.device_get(history)
  kept = (f"the last checkpoint (step {kept_step}) was kept" if kept_step
          else "no checkpoint was written")
  for i, h in enumerate(host):
    step = first_step + i + 1
    if h.get("skipped", 0):
      if skips is not None:
        skips.run += 1
        if skips.run >= skips.limit:
          raise NonFiniteError(f"{skips.run} consecutive steps up to step {step} were non-finite "
                               f"and skipped (nonfinite_max_skips={skips.limit}); {kept}")
      continue
    if skips is not None:
      skips.run = 0
    bad = sorted(k for k, v in h.items() if not math.isfinite(v))
    if bad:
      window = (f" (in the window between steps {first_step + 1} and {first_step + len(host)})"
                if len(host) > 1 else "")
      raise NonFiniteError(f"non-finite {', '.join(bad)} at step {step}{window}; {kept}")
  used = [h for h in host if not h.get("skipped", 0)]
  summary = {k: float(np.mean([h[k] for h in used])) for k in host[0] if k != "skipped"} if used else {}
  if "skipped" in host[0]:
    summary["skipped_steps"] = len(host) - len(used)
  return summary


def _make_evaluator(config):
  """(evaluator, every_steps) for config.eval (jaxgan.metrics.periodic), or (None, 0)."""
  every = (config.get("eval") or {}).get("every_steps", 0)
  if not every:
    return None, 0
  if every % config.log_every_steps:
    raise UsageError(f"eval.every_steps={every} must be a multiple of log_every_steps="
                     f"{config.log_every_steps} (evaluations join the logged rows)")
  if jax.process_count() > 1:  # its feature extraction is not multi-host yet
    print("jaxgan: warning: periodic evaluation is skipped in multi-process runs; run "
          "`jaxgan eval` on the checkpoints", file=sys.stderr)
    return None, 0
  from jaxgan.metrics import periodic
  return periodic.make_evaluator(config), every


def _make_preview(config, gan: GANDef):
  """(g_params, g_batch_stats) -> the sample grid's images: G of fixed latents, or for a
  translation model input | G(input) | target of the dataset's first examples."""
  n = config.get("num_samples", 64)
  if gan.superres is not None or gan.inpaint is not None:
    return _image_model_preview(config, gan, n)
  if not is_translation(config):
    generate = sampling.make_generate_fn(gan.generator)
    z = sampling.latents_for_indices(config.seed + 1, np.arange(n), gan.latent_dim)
    return lambda params, stats: np.asarray(generate(params, stats, z))
  from jaxgan.train.translation_step import inference_mode, translate
  # `jaxgan translate`'s default inference (the same dropout noise at every preview when it
  # is the paper's mode), by a G without the pmap axis: train-mode BatchNorm outside the
  # step must not reduce over devices; the variables are the same.
  mode = inference_mode("auto", config.batch_size)
  key = jax.random.PRNGKey(config.seed + 1)
  g = functools.partial(translate, build_gan(config), mode=mode)
  if gan.cycle is None:
    from jaxgan.data import paired
    inputs, targets = paired.paired_examples(config, n)
    run = jax.jit(g)
    return lambda params, stats: sampling.translation_panels(
        inputs, np.asarray(run(params, stats, inputs, key)), targets)
  from jaxgan.data import unpaired
  a, b = unpaired.unpaired_examples(config, max(1, n // 2))

  @jax.jit
  def cycles(params, stats):  # A | G_A(A) | G_B(G_A(A)) and B | G_B(B) | G_A(G_B(B))
    fake_b = g(params, stats, a, key, method="a_to_b")
    fake_a = g(params, stats, b, key, method="b_to_a")
    return (fake_b, g(params, stats, fake_b, key, method="b_to_a"),
            fake_a, g(params, stats, fake_a, key, method="a_to_b"))

  def preview(params, stats):
    fake_b, rec_a, fake_a, rec_b = map(np.asarray, cycles(params, stats))
    return np.concatenate([sampling.translation_panels(a, fake_b, rec_a),
                           sampling.translation_panels(b, fake_a, rec_b)])
  return preview


def _image_model_preview(config, gan: GANDef, n: int):
  """Fixed examples -> panels. Super-resolution: bicubic | G(LR) | HR of centre patches.
  Inpainting: the image with its holes blanked | G's composite | the image, the holes
  drawn from seed + 1."""
  g = build_gan(config)  # no pmap axis: BatchNorm outside the step must not reduce over devices
  if gan.superres is not None:
    from jaxgan.data import superres
    from jaxgan.train.superres_step import upscale
    lr, hr = superres.superres_examples(config, n)
    run = jax.jit(lambda p, s: upscale(g, p, s, lr))
    base = np.asarray(jax.image.resize(lr, hr.shape, "bicubic"))
    return lambda params, stats: sampling.translation_panels(
        np.clip(base, -1, 1), np.asarray(run(params, stats)), hr)
  from jaxgan.data import masks, pipeline
  from jaxgan.train.inpaint_step import inpaint
  images = pipeline.first_images(config, n)
  holes = np.asarray(masks.random_masks(jax.random.PRNGKey(config.seed + 1), np.arange(n),
                                        config.image_size, gan.inpaint.masks))
  run = jax.jit(lambda p, s: inpaint(g, p, s, images, holes))
  return lambda params, stats: sampling.translation_panels(
      images * (1 - holes), np.asarray(run(params, stats)), images)  # holes mid-grey


class _BestKeeper:
  """Keeps the checkpoint with the best value of one evaluation metric (config.eval.keep_best:
  the lowest fid, kid or l1; the highest is, precision, recall, psnr or ssim) in
  workdir/best/, with workdir/best/best.json naming its step and value. Evaluations run in
  single-process runs only (see _make_evaluator)."""

  def __init__(self, workdir: str, config, metric_keys_prefix: str = "eval/"):
    from jaxgan.metrics.periodic import HIGHER_IS_BETTER
    self.metric = (config.get("eval") or {}).get("keep_best", "")
    self.dir = os.path.join(workdir, "best")
    self.json = os.path.join(self.dir, "best.json")
    higher = self.metric.split("/")[-1] in HIGHER_IS_BETTER  # "BtoA/psnr": psnr's direction
    self.sign = -1.0 if higher else 1.0  # compares sign * value
    self.best = self.sign * math.inf
    self.prefix = metric_keys_prefix
    if self.metric and os.path.isfile(self.json):
      with open(self.json) as f:
        self.best = json.load(f)["value"]
    self._ckpt = None

  def update(self, step: int, summary: dict, checkpoint_state) -> None:
    keys = [k for k in summary if k.startswith(self.prefix) and k.endswith("/" + self.metric)]
    if not self.metric or not keys or not self.sign * summary[keys[0]] < self.sign * self.best:
      return
    if self._ckpt is None:
      self._ckpt = checkpoint_lib.Checkpointer(self.dir, max_to_keep=1)
    self._ckpt.save(step, checkpoint_state)
    self._ckpt.finish_pending()  # best.json may name only a complete checkpoint
    self.best = summary[keys[0]]
    if jax.process_index() == 0:
      _write_json_atomic(self.json, json.dumps({"step": step, "metric": keys[0],
                                                "value": self.best}))

  def close(self) -> None:
    if self._ckpt is not None:
      self._ckpt.close()


class Preempted(Exception):
  """Training stopped on SIGTERM/SIGINT after saving a checkpoint; resume with the same workdir."""

  def __init__(self, signal_name: str, step: int):
    super().__init__(f"stopped by {signal_name} at step {step}; checkpoint saved; run the same "
                     "command to resume")
    self.signal_name, self.step = signal_name, step


class _StopRequests:
  """Turns SIGTERM and SIGINT into a request the loop honours between steps.

  A second SIGINT interrupts at once (KeyboardInterrupt), for a user who cannot wait.
  Handlers can only be installed from the main thread; elsewhere signals keep Python's
  defaults.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.received: int | None = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.received = signum
    print(f"jaxgan: {signal.Signals(signum).name} received; stopping after this step",
          file=sys.stderr, flush=True)

  def agreed(self) -> bool:
    """Whether every process should stop now (any process got a signal)."""
    local = self.received is not None
    if jax.process_count() == 1:
      return local
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.array(local))))

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    return False


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       allow_changes: Sequence[str] = ()) -> GANState:
  """Trains the GAN `config` describes in `workdir`, resuming from its newest good checkpoint.

  Args:
    config: the experiment config.
    workdir: the run directory; created, or resumed if it holds a run of this config.
    allow_changes: config fields that may differ from the workdir's run (see _check_workdir).
  Returns:
    The final state.
  Raises:
    UsageError: bad config, data or workdir (nothing written).
    NonFiniteError: a loss, gradient or parameter became NaN/Inf (no bad checkpoint written).
    Preempted: SIGTERM/SIGINT arrived; a checkpoint of the current step was written.
    checkpoint.CheckpointError: a checkpoint could not be written; older ones are intact.
  """
  with _StopRequests() as stop:
    return _train(config, workdir, allow_changes, stop)


def _train(config, workdir, allow_changes, stop: _StopRequests) -> GANState:
  from jaxgan.data import pipeline  # TensorFlow stays out of inference-only imports

  config_lib.validate(config)
  workdir = os.path.abspath(os.path.expanduser(workdir))
  _check_workdir(workdir, config, allow_changes)
  mode = config.get("parallel", "sharded")
  gan = build_gan(config, bn_axis_name=parallel.PMAP_AXIS if mode == "pmap" else None)
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.batch_size, mesh)
  accum = config.get("grad_accum_steps", 1)
  if accum < 1 or (config.batch_size // mesh.size) % accum:
    raise UsageError(f"grad_accum_steps={accum} must divide the per-device batch "
                     f"{config.batch_size // mesh.size}")
  per_device = config.batch_size // config.get("n_critic", 1) // mesh.size
  if per_device % models.pack_size(config):
    raise UsageError(f"each device's batch per D update ({per_device}) must divide into packs "
                     f"of model.pack={models.pack_size(config)}")
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)

  ckpt, restored, start_step = None, None, 0
  try:
    if checkpoint_lib.latest_step(workdir) is not None:  # never creates a directory
      ckpt = checkpoint_lib.Checkpointer(workdir, max_to_keep=config.get("keep_checkpoints", 3))
      restored, start_step = ckpt.restore_latest_good(abstract_state(gan, config, mesh))
      start_step = start_step or 0
    # Data before anything is written: an unknown dataset or an unreadable folder fails here.
    ds = pipeline.make_dataset(config, process_index=jax.process_index(),
                               process_count=jax.process_count(), start_step=start_step)
    batches = pipeline.numpy_batches(ds)
    first_batch = next(batches)
    evaluator, eval_every = _make_evaluator(config)  # bad metric names fail before any write
    # A fresh run's warm start (init_generator_from, frozen feature weights), read now.
    loaded = {} if restored is not None else warm_start.load(
        config, lambda: abstract_state(gan, config, mesh), gan)
  except BaseException:
    if ckpt is not None:
      ckpt.close()
    raise

  is_chief = jax.process_index() == 0
  topology = _topology(mode)
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    if start_step:
      _announce_topology_change(workdir, topology, start_step)
    _rollback_metrics(workdir, start_step)
    _write_json_atomic(os.path.join(workdir, "config.json"), config_lib.to_json(config))
    _write_json_atomic(os.path.join(workdir, "topology.json"), json.dumps(topology, indent=1))
  if ckpt is None:
    ckpt = checkpoint_lib.Checkpointer(workdir, max_to_keep=config.get("keep_checkpoints", 3))
  if restored is not None:
    state = runner.from_checkpoint(restored)
    del restored
  else:
    state = runner.init(functools.partial(init_state, gan, config.seed, image_shape(config)))
    if loaded:
      place = lambda tree: parallel.place_replicated(tree, mesh)
      state = runner.from_checkpoint(warm_start.apply(runner.to_checkpoint(state), loaded, place))
  preview = _make_preview(config, gan)
  logger = _Logger(workdir, enabled=is_chief)
  best = _BestKeeper(workdir, config)

  num_steps = config.num_train_steps
  # Multi-process runs agree on stopping with a collective, so not on every step.
  sync_every = 1 if jax.process_count() == 1 else config.get("preemption_sync_every_steps", 10)
  history, window_start, window_time = [], start_step, time.perf_counter()
  kept_step = start_step or None
  skips = _SkipCounter(config.get("nonfinite_max_skips", 20))
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
      stopping = done % sync_every == 0 and stop.agreed()
      save = done % config.checkpoint_every_steps == 0 or last or stopping
      if done % config.log_every_steps == 0 or save:
        summary = _summarise(runner.host_view(history), window_start, kept_step, skips)
        elapsed = time.perf_counter() - window_time
        summary["steps_per_s"] = len(history) / elapsed
        summary["images_per_s"] = summary["steps_per_s"] * config.batch_size
        if evaluator and (done % eval_every == 0 or last):  # joins this step's row
          g = runner.host_view(state.g)
          ema = getattr(state, "g_ema", None)  # sample the EMA generator when the run keeps one
          summary.update(evaluator(runner.host_view(ema) if ema else g.params,
                                   g.batch_stats))
          best.update(done, summary, runner.to_checkpoint(state))
        logger.scalars(done, summary)
        bar.set_postfix({k: f"{summary[k]:.3f}" for k in ("d_loss", "g_loss") if k in summary},
                        refresh=False)
        history, window_start, window_time = [], done, time.perf_counter()
      if is_chief and (done % config.sample_every_steps == 0 or last):
        g = runner.host_view(state.g)
        logger.grid(done, preview(g.params, g.batch_stats))
      if save:
        ckpt.save(done, runner.to_checkpoint(state))
        kept_step = done
      else:
        ckpt.poll()  # a failed background save is reported at once, not at the next save
      if stopping:
        ckpt.finish_pending()
        raise Preempted(signal.Signals(stop.received or signal.SIGTERM).name, done)
      if not last:
        batch = next(batches)
  finally:
    batches.close()  # releases the tf.data iterator and its threads now, not at GC time
    bar.close()
    try:
      ckpt.close()
      best.close()
    finally:
      logger.close()
  return state
