"""Periodic evaluation during training: one callable the host loop calls every N steps.

  evaluator = make_evaluator(config)                       # before the loop; cheap later
  values = evaluator(state.g.params, state.g.batch_stats)  # {"eval/digits/fid": ..., ...}

The config's `eval` group (absent: the defaults below) says what to compute:
  eval.every_steps   0 = never (for the loop; unused here)
  eval.metrics       "fid,kid" (names of jaxgan.metrics.evaluate)
  eval.num_samples   2000
  eval.features      "digits" (an embedded net: no extra files; or "inception")
  eval.batch_size    500
  eval.seed          0       fixed latents: step-to-step changes are the generator's
  eval.keep_best     ""      keep the checkpoint with the best value of this metric in best/
Reference statistics are computed on the first call's construction and cached on disk
(jaxgan.metrics.reference), so a resumed run does not recompute them.

Image-to-image runs (pix2pix, CycleGAN, SR, inpainting) are judged as `jaxgan eval` judges
them (jaxgan.metrics.image_runs): the generator applied to the first eval.num_samples
examples of eval.split (default: the run's split; CycleGAN "SPLIT_A,SPLIT_B") or of
eval.dataset, against their real images and ground truth; eval.metrics may also name
l1, psnr, ssim and lpips (not for CycleGAN; lpips with eval.lpips and eval.lpips_lin, the
files `jaxgan eval --lpips/--lpips-lin` take), and eval.mode is the translation inference
mode.
"""

from typing import Callable

import ml_collections

from jaxgan.errors import UsageError
from jaxgan.metrics import evaluate, feature_nets, features as features_lib, reference

DEFAULTS = dict(every_steps=0, metrics="fid,kid", num_samples=2000, features="digits",
                batch_size=500, seed=0, keep_best="")
# Metric keys whose best value is the highest; every other one is best lowest (fid, kid, l1).
HIGHER_IS_BETTER = frozenset({"is", "precision", "recall", "psnr", "ssim"})  # lpips: lowest


def metric_keys(metrics) -> list[str]:
  """The keys the named metrics add to an evaluation (keep_best must be one of them)."""
  keys = {"pr": ["precision", "recall"]}
  return [k for m in metrics for k in keys.get(m, [m])]


def eval_settings(config) -> ml_collections.ConfigDict:
  """config.eval with DEFAULTS filled in for absent fields."""
  settings = ml_collections.ConfigDict(DEFAULTS)
  for k, v in (config.get("eval") or {}).items():
    settings[k] = v
  return settings


def make_evaluator(config, data_dir: str | None = None, *, stats_dir: str | None = None
                   ) -> Callable[..., dict[str, float]]:
  """A function (generator_params, batch_stats) -> {"eval/<features>/<metric>": value}.

  Builds the generator, the feature net, its sharded extractor and the reference
  statistics now, so each call only generates and extracts.

  Args:
    config: the run config (with an optional `eval` group, see module doc).
    data_dir: TFDS data_dir for the real data; default config.data_dir.
    stats_dir: reference statistics cache; default reference.default_stats_dir().
  Returns:
    The evaluator. Metric values are Python floats.
  Raises:
    UsageError: unknown metric or feature net, missing weights, unreadable data.
  """
  from jaxgan.train.build import build_gan, is_image_model
  settings = eval_settings(config)
  if data_dir is not None:
    config = ml_collections.ConfigDict(config.to_dict())
    config.data_dir = data_dir
  if is_image_model(config):
    return _make_image_evaluator(config, settings)
  metrics = evaluate.parse_metrics(settings.metrics)
  evaluate.check_metrics_for_net(metrics, settings.features)
  _check_keep_best(settings, metrics)
  net = feature_nets.load_feature_net(settings.features)
  generator = build_gan(config).generator
  extractor = features_lib.Extractor(net, batch_size=settings.batch_size)
  real = reference.reference_stats(config, net, stats_dir=stats_dir,
                                   batch_size=extractor.batch_size, mesh=extractor.mesh)
  prefix = f"eval/{net.name}/"

  def evaluator(generator_params, batch_stats) -> dict[str, float]:
    values = evaluate.evaluate_generator(
        config, generator, generator_params, batch_stats, metrics=metrics,
        num=settings.num_samples, net=net, seed=settings.seed, extractor=extractor, real=real)
    return {prefix + k: float(v) for k, v in values.items() if k not in ("num_samples", "num_real")}

  return evaluator


def _check_keep_best(settings, metrics) -> None:
  keys = metric_keys(metrics)
  # CycleGAN's values are per direction: keep_best "fid" is A->B's, "BtoA/fid" B->A's.
  if settings.keep_best and settings.keep_best.split("/")[-1] not in keys:
    raise UsageError(f"eval.keep_best={settings.keep_best!r} is not among the evaluated "
                     f"metrics' values ({', '.join(keys)}); set --config.eval.metrics or "
                     "--config.eval.keep_best")


def _make_image_evaluator(config, settings) -> Callable[..., dict[str, float]]:
  """make_evaluator for an image-to-image run (module doc)."""
  from jaxgan.metrics import image_runs
  from jaxgan.train.build import build_gan
  gan = build_gan(config)
  config = ml_collections.ConfigDict(config.to_dict())  # pointed at the evaluation data
  image_runs.select_data(config, gan, dataset=settings.get("dataset") or None,
                         split=settings.get("split") or None)
  metrics = image_runs.parse_metrics(settings.metrics)
  evaluate.check_metrics_for_net(metrics, settings.features)
  _check_keep_best(settings, metrics)
  net = (feature_nets.load_feature_net(settings.features)
         if any(m in evaluate.METRICS for m in metrics) else None)
  distance = None
  if "lpips" in metrics and settings.get("lpips"):
    from jaxgan.metrics import lpips as lpips_lib
    distance = lpips_lib.Distance.from_files(settings.lpips, settings.get("lpips_lin") or None)
  judge = image_runs.ImageRunJudge(config, gan, metrics=metrics, num=settings.num_samples,
                                   net=net, batch_size=settings.batch_size, seed=settings.seed,
                                   mode=settings.get("mode", "auto"), lpips=distance)
  prefix = f"eval/{net.name if net else 'image'}/"

  def evaluator(generator_params, batch_stats) -> dict[str, float]:
    values = judge(generator_params, batch_stats)
    return {prefix + k: float(v) for k, v in values.items() if not k.endswith("num_examples")}

  return evaluator
