"""`jaxgan eval` of a run whose generator takes an image: pix2pix, CycleGAN, SRGAN/ESRGAN,
DeepFill v2. The generator is applied to every example of a split (the run's own unless
one is given), as `jaxgan translate|upscale|inpaint` would apply it, and judged:

  distribution metrics (fid, kid, is, pr; jaxgan.metrics.evaluate): the outputs' features
    against the features of that split's real images of the output domain (pix2pix: the
    targets; CycleGAN A->B: domain B's images; SR: the high-resolution patches;
    inpainting: the complete images), as the translation (CUT, CycleGAN follow-ups) and
    inpainting papers report FID;
  full-reference metrics (l1, psnr, ssim; jaxgan.metrics.full_reference; lpips,
    jaxgan.metrics.lpips, with its weights given): each output against its own ground
    truth, the mean over images. SR takes l1/psnr/ssim on Y with the scale shaved off the
    border (the SR papers' protocol), LPIPS on RGB with the same border shaved (as
    BasicSR), and adds the same figures for plain bicubic upscaling (`*_bicubic`), the
    baseline every SR table starts from. CycleGAN's domains are unpaired: it has no
    ground truth.

What goes in, per model (all deterministic: the same numbers on every call):
  pix2pix   the split's pairs resized to image_size (no jitter), the run's inference
            mode (`mode`, as `jaxgan translate`)
  cyclegan  each domain's images resized to image_size; both directions, keys prefixed
            "AtoB/" and "BtoA/"
  srgan     the centre image_size patch of each image and its LR (the run's degradation
  esrgan    or the dataset's own LR); the EMA generator where the run keeps one. With
            whole_images: every image whole (cropped to a multiple of the scale), as the
            SR papers' Set5/Set14/DIV2K tables; full-reference metrics only
  deepfill  the images preprocessed as in training, each with the hole training would
            draw for its index (DeepFill v2's strokes and box, seeded by `seed`)
"""

import functools
import time
from typing import Callable, Iterator, Sequence

import numpy as np

from jaxgan import images as image_lib
from jaxgan.errors import UsageError
from jaxgan.metrics import evaluate, feature_nets, full_reference
from jaxgan.metrics import lpips as lpips_lib
from jaxgan.metrics import features as features_lib
from jaxgan.metrics.frechet import gaussian_stats
from jaxgan.metrics.reference import ReferenceStats

GROUND_TRUTH = full_reference.METRICS + ("lpips",)  # each output against its own truth
METRICS = evaluate.METRICS + GROUND_TRUTH
BATCH_SIZE = 32  # `jaxgan eval`'s default for these runs: full-size activations in G


def parse_metrics(text: str | Sequence[str]) -> list[str]:
  """'fid,l1' -> ['fid', 'l1']; UsageError naming the valid ones otherwise."""
  return evaluate.parse_metrics(
      text, valid=METRICS,
      hint=f" (image-to-image runs also: {', '.join(GROUND_TRUTH)})")


def default_metrics(gan) -> list[str]:
  """FID and KID, and the full-reference metrics where there is a ground truth."""
  return ["fid", "kid"] + ([] if gan.cycle is not None else list(full_reference.METRICS))


def select_data(config, gan, *, dataset: str | None, split: str | None) -> None:
  """Points `config` at the examples to judge: `dataset` (a TFDS name or a folder; a
  CycleGAN run: "FOLDER_A,FOLDER_B") and `split` (a TFDS split; CycleGAN "SPLIT_A,SPLIT_B")."""
  if gan.cycle is None:
    if dataset:
      config.dataset = dataset
    if split:
      config.split = split
    return
  for value, flag, fields in ((dataset, "--dataset", ("folder_a", "folder_b")),
                              (split, "--split", ("split_a", "split_b"))):
    if not value:
      continue
    parts = value.split(",")
    if len(parts) != 2 or not all(p.strip() for p in parts):
      raise UsageError(f"a CycleGAN run has two domains: {flag} A,B (got {value!r})")
    for field, part in zip(fields, parts):
      config[field] = part.strip()
  if split:  # TFDS splits: the folders (if any) no longer apply
    config.folder_a, config.folder_b = "", ""
  elif dataset:
    config.split_a, config.split_b = "", ""


def _numpy_batches(ds, batch_size: int, count: int) -> Iterator:
  """NumPy batches of the first `count` elements of an unbatched tf.data dataset."""
  from jaxgan.data import pipeline
  return pipeline.numpy_batches(ds.take(count).batch(batch_size).prefetch(2))


def _padded(fn: Callable, batch_size: int, *arrays: np.ndarray) -> np.ndarray:
  """fn over arrays padded (with copies of their last row) to batch_size rows: one
  compiled shape whatever the batch; the padding's rows are dropped."""
  n = len(arrays[0])
  if n < batch_size:
    arrays = tuple(np.concatenate([a, np.repeat(a[-1:], batch_size - n, 0)]) for a in arrays)
  return np.asarray(fn(*arrays))[:n]


class _Direction:
  """One mapping to judge: inputs -> outputs, the real images of the output domain, and
  (where there is one) each output's ground truth.

  batches() yields (inputs tuple, ground truth or None, start index) of float [-1, 1]
  images; apply(weights, start, *inputs) -> float outputs, weights = (params, stats);
  reals() yields the output domain's real images (float); count: how many examples;
  sr_scale: full-reference metrics on the SR papers' view; baseline(*inputs): uint8
  outputs of a fixed method judged beside the model (SR: bicubic)."""

  def __init__(self, batches, apply, reals, count, sr_scale=None, baseline=None):
    self.batches, self.apply, self.reals, self.count = batches, apply, reals, count
    self.sr_scale, self.baseline = sr_scale, baseline


def judge(direction: _Direction, weights, metrics: Sequence[str],
          extractor: features_lib.Extractor | None,
          lpips: lpips_lib.Distance | None = None) -> dict[str, float]:
  """The metrics of one direction: distribution metrics from two streaming passes
  (outputs, then real images), full-reference ones batch by batch during the first."""
  dist = [m for m in metrics if m in evaluate.METRICS]
  full = [m for m in metrics if m in GROUND_TRUTH]
  pixel = [m for m in full if m in full_reference.METRICS]
  rows = {m: [] for m in full}
  base_rows = {m: [] for m in full}

  def add(into, images8, truth8):
    if pixel:
      values = full_reference.batch_values(pixel, images8, truth8, direction.sr_scale)
      for m, v in values.items():
        into[m].extend(v)
    if "lpips" in full:
      s = direction.sr_scale
      if s:  # the SR border shaved, as for the other metrics; RGB, not Y
        images8, truth8 = images8[:, s:-s, s:-s], truth8[:, s:-s, s:-s]
      into["lpips"].extend(lpips(images8, truth8))

  def outputs() -> Iterator[np.ndarray]:
    for inputs, truth, start in direction.batches():
      out8 = image_lib.to_uint8(direction.apply(weights, start, *inputs))
      if full:
        truth8 = image_lib.to_uint8(truth)
        add(rows, out8, truth8)
        if direction.baseline is not None:
          add(base_rows, direction.baseline(*inputs), truth8)
      yield out8

  out = {}
  if dist:
    fake_feats, fake_logits = extractor.run(outputs())
    real_feats, real_logits = extractor.run(image_lib.to_uint8(x) for x in direction.reals())
    mu, sigma = gaussian_stats(real_feats)
    real = ReferenceStats(key={}, features=real_feats, logits=real_logits, mu=mu, sigma=sigma)
    out.update(evaluate.compute_metrics(dist, fake_feats, fake_logits, real))
  else:
    for _ in outputs():
      pass
  for m in full:
    out[m] = float(np.mean(rows[m]))
    if direction.baseline is not None:
      out[f"{m}_bicubic"] = float(np.mean(base_rows[m]))
  out["num_examples"] = direction.count
  return out


def _checked_count(count: int, num: int, what: str) -> int:
  if count < 2:
    raise UsageError(f"{what} holds {count} example(s); evaluation needs at least 2")
  return min(count, num)


def _paired_directions(config, gan, *, num, batch_size, mode, seed):
  import jax
  from jaxgan.data import paired
  from jaxgan.train.translation_step import inference_mode, translate
  ds, count = paired.eval_pairs(config)
  count = _checked_count(count, num, f"dataset {config.dataset!r} split {config.split!r}")
  mode = inference_mode(mode, config.batch_size)
  run = jax.jit(lambda p, s, x, start: translate(gan, p, s, x, jax.random.PRNGKey(seed),
                                                 mode=mode, first_index=start))

  def batches():
    start = 0
    for x, y in _numpy_batches(ds, batch_size, count):
      yield (x,), y, start
      start += len(x)

  apply = lambda w, start, x: _padded(lambda xx: run(*w, xx, start), batch_size, x)
  reals = lambda: (y for _, y in _numpy_batches(ds, batch_size, count))
  return {"": _Direction(batches, apply, reals, count)}, {"mode": mode}


def _cycle_directions(config, gan, *, num, batch_size, mode, seed):
  import jax
  from jaxgan.data import unpaired
  from jaxgan.train.translation_step import inference_mode, translate
  mode = inference_mode(mode, config.batch_size)
  domains = {d: unpaired.eval_domain(config, d) for d in unpaired.DOMAINS}
  counts = {d: _checked_count(n, num, f"domain {d.upper()}") for d, (_, n) in domains.items()}

  def images(d):
    return _numpy_batches(domains[d][0], batch_size, counts[d])

  out = {}
  for name, src, dst, method in (("AtoB", "a", "b", "a_to_b"), ("BtoA", "b", "a", "b_to_a")):
    run = jax.jit(lambda p, s, x, start, m=method: translate(
        gan, p, s, x, jax.random.PRNGKey(seed), mode=mode, first_index=start, method=m))

    def batches(src=src):
      start = 0
      for x in images(src):
        yield (x,), None, start
        start += len(x)

    apply = lambda w, start, x, run=run: _padded(lambda xx: run(*w, xx, start), batch_size, x)
    out[name] = _Direction(batches, apply, lambda dst=dst: images(dst), counts[src])
  return out, {"mode": mode}


def _superres_directions(config, gan, *, num, batch_size, mode, seed, whole_images=False):
  del mode, seed
  import jax
  from jaxgan.data import superres
  from jaxgan.edit.upscale import bicubic
  from jaxgan.train.superres_step import upscale
  ds, count = (superres.eval_whole_images if whole_images else superres.eval_patches)(config)
  count = _checked_count(count, num, f"dataset {config.dataset!r} split {config.split!r}")
  scale = gan.superres.scale
  run = jax.jit(lambda p, s, x: upscale(gan, p, s, x))  # whole images: one compile per size
  per_batch = 1 if whole_images else batch_size          # whole images differ in size

  def batches():
    start = 0
    for lr, hr in _numpy_batches(ds, per_batch, count):
      yield (lr,), hr, start
      start += len(lr)

  def baseline(lr):  # Pillow's bicubic of the same 8-bit LR the generator saw
    return np.stack([bicubic(x, (x.shape[0] * scale, x.shape[1] * scale))
                     for x in image_lib.to_uint8(lr)])

  apply = lambda w, start, lr: _padded(lambda x: run(*w, x), per_batch, lr)
  reals = lambda: (hr for _, hr in _numpy_batches(ds, per_batch, count))
  protocol = f"full-reference metrics on Y (rgb2ycbcr), {scale} border pixels shaved"
  if whole_images:
    protocol = f"whole images (cropped to a multiple of {scale}); " + protocol
  return ({"": _Direction(batches, apply, reals, count, sr_scale=scale, baseline=baseline)},
          {"protocol": protocol})


def _inpaint_directions(config, gan, *, num, batch_size, mode, seed):
  del mode
  import jax
  from jaxgan.data import masks as masks_lib, pipeline
  from jaxgan.train.inpaint_step import inpaint
  ds, count = pipeline.eval_images(config)
  count = _checked_count(count, num, f"dataset {config.dataset!r} split {config.split!r}")
  run = jax.jit(lambda p, s, x, m: inpaint(gan, p, s, x, m))
  size, kind = config.image_size, gan.inpaint.masks

  def batches():
    start = 0
    for x in _numpy_batches(ds, batch_size, count):
      idx = np.arange(start, start + len(x))
      holes = np.asarray(masks_lib.random_masks(jax.random.PRNGKey(seed), idx, size, kind))
      yield (x, holes), x, start
      start += len(x)

  apply = lambda w, start, x, m: _padded(lambda xx, mm: run(*w, xx, mm), batch_size, x, m)
  reals = lambda: _numpy_batches(ds, batch_size, count)
  return {"": _Direction(batches, apply, reals, count)}, {"holes": f"{kind}, seed {seed}"}


class ImageRunJudge:
  """Judges an image-to-image generator (module doc) on `config`'s data; built once (data
  counted, functions jitted, feature net placed), called with weights as often as needed
  (periodic evaluation during training).

  Args:
    config, gan: the run's config, its data fields pointed at the examples to judge
      (select_data), and its GANDef.
    metrics: names from METRICS; None: default_metrics.
    num: judge at most the first `num` examples (per domain for CycleGAN).
    net: the feature network of the distribution metrics (None if there are none).
    lpips: the `lpips` metric's network (jaxgan.metrics.lpips.Distance).
    whole_images: SR runs: judge whole images, not centre patches (full-reference
      metrics only; each image size compiles the generator once).
    batch_size: images per generator and feature step.
    seed: pix2pix's dropout in "paper" mode; DeepFill's holes.
    mode: translation inference mode ("auto", "paper", "eval").
  """

  def __init__(self, config, gan, *, metrics: Sequence[str] | None, num: int,
               net: feature_nets.FeatureNet | None, batch_size: int = 100, seed: int = 0,
               mode: str = "auto", lpips: lpips_lib.Distance | None = None,
               whole_images: bool = False):
    from jaxgan.train.translation_step import INFERENCE_MODES
    self.metrics = default_metrics(gan) if metrics is None else list(metrics)
    full = [m for m in self.metrics if m in GROUND_TRUTH]
    if whole_images:
      if gan.superres is None:
        raise UsageError("--whole-images is for super-resolution runs (SRGAN, ESRGAN); "
                         "other image-to-image runs work at image_size")
      dist = [m for m in self.metrics if m not in GROUND_TRUTH]
      if dist:
        raise UsageError(f"metric {dist[0]!r} compares features of same-size images; with "
                         f"--whole-images use {', '.join(GROUND_TRUTH)}")
    if full and gan.cycle is not None:
      raise UsageError(f"metric {full[0]!r} compares each output with its ground truth; a "
                       "CycleGAN run's domains are unpaired (use fid, kid, is, pr)")
    if mode not in INFERENCE_MODES:
      raise UsageError(f"unknown --mode {mode!r}; valid: {', '.join(INFERENCE_MODES)}")
    shaved = 2 * gan.superres.scale if gan.superres is not None else 0
    if "ssim" in self.metrics and config.image_size - shaved < 11 and not whole_images:
      raise UsageError(f"ssim's 11x11 window needs images of at least 11 pixels a side"
                       f"{' after the SR shave' if shaved else ''}; this run's are "
                       f"{config.image_size - shaved}")
    if "lpips" in self.metrics:
      if lpips is None:
        raise UsageError("metric 'lpips' needs its weights: --lpips FILE (torchvision's "
                         "alexnet-owt-7be5be79.pth or vgg16-397923af.pth, or an .npz of "
                         "`jaxgan convert lpips`; periodic evaluation: eval.lpips)")
      if not whole_images:  # whole images: checked image by image
        lpips_lib.check_size(lpips.net, config.image_size - shaved,
                             " after the SR shave" if shaved else "")
    self.lpips = lpips
    if gan.cycle is not None:
      self.task, build = "cyclegan", _cycle_directions
    elif gan.superres is not None:
      self.task = "superres"
      build = functools.partial(_superres_directions, whole_images=whole_images)
    elif gan.inpaint is not None:
      self.task, build = "inpaint", _inpaint_directions
    else:
      self.task, build = "pix2pix", _paired_directions
    self.directions, self.protocol = build(config, gan, num=num, batch_size=batch_size,
                                           mode=mode, seed=seed)
    dist = [m for m in self.metrics if m in evaluate.METRICS]
    if dist and net is None:
      raise ValueError(f"metrics {dist} need a feature net")
    self.extractor = features_lib.Extractor(net, batch_size=batch_size) if dist else None

  def __call__(self, params, batch_stats) -> dict[str, float]:
    """{metric key: value} of the generator with these weights (CycleGAN: "AtoB/fid", ...);
    "num_examples" says how many were judged, "seconds" how long it took."""
    start = time.perf_counter()
    values = {}
    for name, direction in self.directions.items():
      prefix = f"{name}/" if name else ""
      found = judge(direction, (params, batch_stats), self.metrics, self.extractor,
                    self.lpips)
      values.update({prefix + k: v for k, v in found.items()})
    values["seconds"] = round(time.perf_counter() - start, 2)
    return values


def evaluate_image_run(config, gan, state, **judge_args) -> dict:
  """{"task", "metrics": {...}, and what the protocol depends on} of a loaded run's
  generator (the EMA one where the run keeps one, as `jaxgan upscale` samples)."""
  from jaxgan.train.state import sampling_params
  judge_ = ImageRunJudge(config, gan, **judge_args)
  return {"task": judge_.task, **judge_.protocol,
          "metrics": judge_(sampling_params(state), state.g.batch_stats)}
