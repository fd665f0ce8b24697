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
Reference statistics are computed on the first call's construction and cached on disk
(jaxgan.metrics.reference), so a resumed run does not recompute them.
"""

from typing import Callable

import ml_collections

from jaxgan.metrics import evaluate, feature_nets, features as features_lib, reference

DEFAULTS = dict(every_steps=0, metrics="fid,kid", num_samples=2000, features="digits",
                batch_size=500, seed=0)


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
  from jaxgan.train.build import build_gan
  settings = eval_settings(config)
  metrics = evaluate.parse_metrics(settings.metrics)
  evaluate.check_metrics_for_net(metrics, settings.features)
  net = feature_nets.load_feature_net(settings.features)
  if data_dir is not None:
    config = ml_collections.ConfigDict(config.to_dict())
    config.data_dir = data_dir
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
