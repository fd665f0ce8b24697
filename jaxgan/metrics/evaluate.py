"""Sample-quality metrics of a generator against its run's real data.

Metric names (`parse_metrics`), and the keys each adds to the result:
  fid  Fréchet distance of the feature Gaussians            -> fid
  kid  kernel distance, mean and std over subsets           -> kid, kid_std
  is   Inception Score over 10 splits of the samples        -> is, is_std
  pr   improved precision and recall (k=3)                  -> precision, recall
"fd" is accepted for "fid". With a feature net other than "inception" the numbers are
"FID/KID/IS in that network's features": comparable between runs, not with papers.
"""

import time
from typing import Iterator, Sequence

import numpy as np

from jaxgan import images as image_lib
from jaxgan.errors import UsageError
from jaxgan.metrics import features as features_lib
from jaxgan.metrics import feature_nets, reference
from jaxgan.metrics.frechet import frechet_distance, gaussian_stats
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance
from jaxgan.metrics.precision_recall import precision_recall

METRICS = ("fid", "kid", "is", "pr")
_ALIASES = {"fd": "fid"}


def parse_metrics(text: str | Sequence[str], valid: Sequence[str] = METRICS,
                  hint: str = "") -> list[str]:
  """'fid,kid' -> ['fid', 'kid']; UsageError naming the valid ones (METRICS, then `hint`)
  when a name is not in `valid`."""
  names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
  names = [_ALIASES.get(n, n) for n in names if n]
  unknown = [n for n in names if n not in valid]
  if unknown or not names:
    raise UsageError(f"unknown metric {', '.join(map(repr, unknown)) or '(none given)'}; "
                     f"valid: {', '.join(METRICS)}{hint}")
  return list(dict.fromkeys(names))  # de-duplicated, in the order given


def check_metrics_for_net(metrics: Sequence[str], net_name: str) -> None:
  """UsageError when a metric makes no sense with this feature network (IS on face/not-face)."""
  specs = feature_nets.EMBEDDED_SPECS
  if "is" in metrics and net_name in specs and not specs[net_name].scores_classes:
    scoring = [n for n in feature_nets.FEATURE_NETS if n not in specs or specs[n].scores_classes]
    raise UsageError(f"metric 'is' needs a feature net whose classes measure diversity; "
                     f"{net_name!r} has none (use: {', '.join(scoring)})")


def compute_metrics(metrics: Sequence[str], fake_features: np.ndarray, fake_logits: np.ndarray,
                    real: reference.ReferenceStats, *, kid_subsets: int = 100,
                    kid_subset_size: int = 1000, pr_k: int = 3) -> dict[str, float]:
  """The named metrics of generated features against reference statistics.

  Args:
    metrics: names from METRICS.
    fake_features, fake_logits: (N, D), (N, K) of the generated images.
    real: the reference statistics (features, mu, sigma) of the real images.
    kid_subsets, kid_subset_size: KID's subsets (size clipped to the smaller set).
    pr_k: the neighbour defining precision/recall radii.
  Returns:
    {name: value} with the keys listed in the module doc.
  """
  out = {}
  for name in metrics:
    if name == "fid":
      out["fid"] = frechet_distance(*gaussian_stats(fake_features), real.mu, real.sigma)
    elif name == "kid":
      out["kid"], out["kid_std"] = kernel_inception_distance(
          real.features, fake_features, num_subsets=kid_subsets, subset_size=kid_subset_size)
    elif name == "is":
      out["is"], out["is_std"] = inception_score(fake_logits, splits=min(10, len(fake_logits)))
    elif name == "pr":
      out["precision"], out["recall"] = precision_recall(real.features, fake_features, k=pr_k)
    else:
      raise UsageError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
  return out


def sample_batches(generator, params, batch_stats, *, num: int, seed: int,
                   batch_size: int) -> Iterator[np.ndarray]:
  """uint8 (b, H, W, C) batches of `num` samples (sample i fixed by (seed, i), as `generate`)."""
  from jaxgan import sampling
  generate = sampling.make_generate_fn(generator)
  for start in range(0, num, batch_size):
    idx = np.arange(start, start + batch_size)  # one batch shape: one compilation
    z = sampling.latents_for_indices(seed, idx, generator.latent_dim)
    yield image_lib.to_uint8(np.asarray(generate(params, batch_stats, z))[: num - start])


def evaluate_generator(config, generator, params, batch_stats, *, metrics: Sequence[str],
                       num: int, net: feature_nets.FeatureNet, batch_size: int = 500,
                       seed: int = 0, stats_dir: str | None = None,
                       real_count: int | None = reference.DEFAULT_MAX_COUNT,
                       extractor: features_lib.Extractor | None = None,
                       real: reference.ReferenceStats | None = None) -> dict[str, float]:
  """Metrics of `num` samples of a generator against the real data of `config`.

  Args:
    config: the run's config (its dataset, split, image_size, channels define "real").
    generator, params, batch_stats: the generator module and its variables.
    metrics: names from METRICS.
    num: samples to generate (at least 2; IS uses min(10, num) splits).
    net: the feature network.
    batch_size: images per generation and feature step.
    seed: latent seed (sample i depends on (seed, i) only).
    stats_dir, real_count: reference statistics cache and image count (reference module).
    extractor, real: reuse these (periodic evaluation) instead of building them.
  Returns:
    {metric key: value} plus "num_samples", "num_real", "seconds".
  """
  if num < 2:
    raise UsageError(f"need at least 2 samples to evaluate, got {num}")
  check_metrics_for_net(metrics, net.name)
  start = time.perf_counter()
  extractor = extractor or features_lib.Extractor(net, batch_size=batch_size)
  real = real or reference.reference_stats(config, net, stats_dir=stats_dir, max_count=real_count,
                                           batch_size=extractor.batch_size, mesh=extractor.mesh)
  feats, logits = extractor.run(sample_batches(generator, params, batch_stats, num=num, seed=seed,
                                               batch_size=extractor.batch_size))
  out = compute_metrics(metrics, feats, logits, real)
  out.update(num_samples=num, num_real=int(real.key["count"]),
             seconds=round(time.perf_counter() - start, 2))
  return out


def evaluate_run(workdir: str, *, metrics: str | Sequence[str] | None = None, num: int,
                 features: str = "digits", batch_size: int | None = None, seed: int = 0,
                 stats_dir: str | None = None,
                 real_count: int | None = reference.DEFAULT_MAX_COUNT,
                 inception_weights: str | None = None, data_dir: str | None = None,
                 dataset: str | None = None, split: str | None = None,
                 mode: str = "auto", lpips: str | None = None,
                 lpips_lin: str | None = None, whole_images: bool = False) -> dict:
  """`jaxgan eval`: metrics of the latest checkpoint of `workdir`'s generator.

  Args:
    workdir: a run directory (config.json and a checkpoint).
    metrics: names (a list or "fid,kid"); None: fid,kid,is,pr for a noise model, the
      image_runs defaults for an image-to-image one.
    num, seed, stats_dir, real_count: see evaluate_generator (an image-to-image run: at
      most `num` examples of the split; no cached statistics).
    batch_size: images per step; None: 500 for a noise model, image_runs.BATCH_SIZE for an
      image-to-image one (its generator's activations are full-size).
    features: a name from feature_nets.FEATURE_NETS.
    inception_weights: converted Inception weights (features="inception").
    data_dir: TFDS data_dir overriding the run's own (e.g. the data moved).
    dataset, split: the data to judge against instead of the run's own (a noise model: the
      reference statistics' data, e.g. the whole set for a run trained on a subset, as the
      ADA paper reports FID; image-to-image runs: image_runs.select_data).
    mode: the translation inference mode (image-to-image runs).
    lpips, lpips_lin: the LPIPS weights (jaxgan.metrics.lpips.load) for the `lpips`
      metric; given with the default metrics, lpips joins them.
    whole_images: SR runs: whole images instead of centre patches (image_runs); the
      default metrics are then the full-reference ones.
  Returns:
    {"workdir", "step", "features", "dataset", "split", "metrics": {...}} (image-to-image
    runs: also "task" and what its protocol depends on).
  """
  from jaxgan.metrics import image_runs
  names = None if metrics is None else image_runs.parse_metrics(metrics)
  if names is not None:
    check_metrics_for_net(names, features)
  # The feature net and LPIPS before the (slow) run loading: missing weights fail first.
  if whole_images and names is None:
    names = [m for m in image_runs.GROUND_TRUTH if m != "lpips" or lpips]
  net = (feature_nets.load_feature_net(features, inception_weights=inception_weights)
         if names is None or any(n in METRICS for n in names) else None)
  distance = None
  if lpips or (names and "lpips" in names):
    from jaxgan.metrics import lpips as lpips_lib
    if not lpips:
      raise UsageError("metric 'lpips' needs its weights: --lpips FILE")
    distance = lpips_lib.Distance.from_files(lpips, lpips_lin)
  from jaxgan.generate import load_run
  config, gan, state = load_run(workdir)
  from jaxgan.train import build
  if data_dir is not None:
    config.data_dir = data_dir
  if build.is_image_model(config):
    image_runs.select_data(config, gan, dataset=dataset, split=split)
    if names is None:
      names = image_runs.default_metrics(gan) + (["lpips"] if distance and gan.cycle is None
                                                 else [])
    result = image_runs.evaluate_image_run(config, gan, state, metrics=names, num=num, net=net,
                                           batch_size=batch_size or image_runs.BATCH_SIZE,
                                           seed=seed, mode=mode, lpips=distance,
                                           whole_images=whole_images)
    return {"workdir": workdir, "step": int(np.asarray(state.step)),
            "features": net.name if net else None, **_data_fields(config, gan), **result}
  for flag, given in (("--whole-images", whole_images), ("--lpips", lpips)):
    if given:
      raise UsageError(f"{flag} is for image-to-image runs (it compares outputs with their "
                       f"ground truth); this run ({config.model.name}) samples G(z)")
  if dataset:
    config.dataset = dataset
  if split:
    config.split = split
  ground_truth = [n for n in (names or ()) if n not in METRICS]
  if ground_truth:
    raise UsageError(f"metric {ground_truth[0]!r} compares outputs with their ground truth: "
                     f"image-to-image runs only; this run ({config.model.name}) samples G(z) "
                     f"(valid: {', '.join(METRICS)})")
  names = names if names is not None else list(METRICS)
  # The EMA generator when the run keeps one (what `jaxgan generate` samples too).
  params = state.g_ema if getattr(state, "g_ema", None) else state.g.params
  values = evaluate_generator(config, gan.generator, params, state.g.batch_stats,
                              metrics=names, num=num, net=net, batch_size=batch_size or 500,
                              seed=seed,
                              stats_dir=stats_dir, real_count=real_count)
  return {"workdir": workdir, "step": int(np.asarray(state.step)), "features": net.name,
          "dataset": str(config.dataset), "split": str(config.split), "metrics": values}


def _data_fields(config, gan) -> dict:
  """What data an image-to-image run was judged on, for the result."""
  if gan.cycle is None:
    return {"dataset": str(config.dataset), "split": str(config.get("split", "train"))}
  domain = lambda d: config.get(f"folder_{d}") or config.get(f"split_{d}")
  return {"dataset": str(config.dataset), "split": f"{domain('a')},{domain('b')}"}
