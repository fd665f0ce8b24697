"""Config -> GANDef (modules, optimizers, losses, step options) and the state's shapes.

One place turns a config into what the train step needs, so the loop, `generate`,
benchmarks and tests all build the same GAN.

Config fields read here besides the model and optimizers (all optional, defaults in
brackets): loss ["dcgan"], penalty ["none": "gp" | "r1" | "r2"], penalty_weight
[0: WGAN-GP's lambda, or R1/R2's gamma (the term is gamma/2 ||grad||^2)], weight_clip
[0: off; WGAN clips D's weights to +-weight_clip], n_critic [1], ema_decay [0: no EMA],
augment ["": DiffAugment policy, e.g. "translation,cutout,color"], nonfinite ["stop"].
model.name="stylegan2" also reads the `stylegan2` group (StyleGAN2Options' fields) and runs
the lazy-regularised StyleGAN2 step; `stylegan2.ema_kimg` > 0 sets ema_decay. The image
models read their step's group likewise: `translation` (pix2pix), `cycle` (CycleGAN),
`superres` (SRGAN, ESRGAN), `inpaint` (DeepFill v2).
"""

import dataclasses
import functools

import jax
import ml_collections
import optax

from jaxgan import losses, models
from jaxgan.errors import UsageError
from jaxgan.train import optim, parallel
from jaxgan.train.state import GANDef, GANState, init_state
from jaxgan.train.stylegan2_step import StyleGAN2Options
from jaxgan.train.translation_step import TranslationOptions

NONFINITE_POLICIES = ("stop", "skip")


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise UsageError(message)


def _d_optimizer(config) -> optax.GradientTransformation:
  updates = config.get("num_train_steps", 0) * config.get("n_critic", 1)
  tx = optim.make_optimizer(config.optimizer_d, updates)
  clip = config.get("weight_clip", 0.0)
  _check(clip >= 0, f"weight_clip must be >= 0, got {clip!r}")
  return optax.chain(tx, optim.clip_params(clip)) if clip > 0 else tx


def _skips_nonfinite(config) -> bool:
  """The `nonfinite` policy, validated: True for "skip", False for "stop"."""
  policy = config.get("nonfinite", "stop")
  _check(policy in NONFINITE_POLICIES,
         f"unknown nonfinite policy {policy!r}; valid: {', '.join(NONFINITE_POLICIES)}")
  return policy == "skip"


def _augment(config):
  policy = config.get("augment", "")
  if not policy:
    return None
  from jaxgan import augment
  return augment.DiffAugment.from_policy(policy)


def build_gan(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None) -> GANDef:
  """The GANDef `config` describes; UsageError names a bad field and the valid values."""
  if config.model.name == "stylegan2":
    return build_stylegan2(config)
  if config.model.name == "cyclegan":
    return build_cycle(config, bn_axis_name=bn_axis_name)
  if config.model.name in models.TRANSLATION_MODELS:
    return build_translation(config, bn_axis_name=bn_axis_name)
  if config.model.name in models.SUPERRES_MODELS:
    return build_superres(config, bn_axis_name=bn_axis_name)
  if config.model.name in models.INPAINT_MODELS:
    return build_inpaint(config)
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  penalty = losses.check_penalty(config.get("penalty", "none"))
  weight = config.get("penalty_weight", 0.0)
  _check(penalty == "none" or weight > 0, f"penalty={penalty!r} needs penalty_weight > 0")
  n_critic = config.get("n_critic", 1)
  _check(isinstance(n_critic, int) and n_critic >= 1, f"n_critic must be >= 1, got {n_critic!r}")
  _check(config.batch_size % n_critic == 0,
         f"batch_size={config.batch_size} must be a multiple of n_critic={n_critic} "
         "(each D update uses batch_size / n_critic examples)")
  ema = config.get("ema_decay", 0.0)
  _check(0.0 <= ema < 1.0, f"ema_decay must be in [0, 1), got {ema!r}")
  accum = config.get("grad_accum_steps", 1)
  _check(accum == 1 or (penalty == "none" and n_critic == 1 and not losses.batch_coupled(d_loss)
                        and not config.get("augment", "") and not models.num_classes(config)),
         "grad_accum_steps > 1 supports only the plain step (no penalty, n_critic, "
         "relativistic loss, augment or conditioning)")
  pack = models.pack_size(config)
  _check(pack == 1 or (penalty == "none" and accum == 1),
         "model.pack > 1 (PacGAN) supports penalty=none and grad_accum_steps=1")
  _check((config.batch_size // n_critic) % pack == 0,
         f"each D update's batch (batch_size / n_critic = {config.batch_size // n_critic}) "
         f"must divide into packs of model.pack={pack}")
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  _check(penalty == "none" or not models.d_uses_batch_norm(config),
         f"penalty={penalty!r} needs a discriminator without BatchNorm (per-example input "
         "gradients); set --config.model.norm=none or use a model without it")
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g, config.get("num_train_steps", 0)),
                d_tx=_d_optimizer(config),
                d_loss=d_loss, g_loss=g_loss, grad_accum_steps=accum,
                skip_nonfinite=_skips_nonfinite(config), n_critic=n_critic, penalty=penalty,
                penalty_weight=float(weight), ema_decay=float(ema),
                num_classes=models.num_classes(config),
                ac_weight=models.ac_weight(config), augment=_augment(config))


def _lazy_adam(cfg: ml_collections.ConfigDict, interval: int) -> ml_collections.ConfigDict:
  """The optimizer group corrected for a lazy regulariser every `interval` steps (one extra
  update per interval): lr * c, b1 ** c, b2 ** c with c = interval / (interval + 1)."""
  cfg = cfg.copy_and_resolve_references()
  if interval > 0 and cfg.name == "adam":
    c = interval / (interval + 1)
    cfg.lr, cfg.b1, cfg.b2 = cfg.lr * c, cfg.b1 ** c, cfg.b2 ** c
  return cfg


def _stylegan2_options(config) -> StyleGAN2Options:
  fields = {f.name for f in dataclasses.fields(StyleGAN2Options)}
  group = dict(config.get("stylegan2", {}) or {})
  unknown = sorted(set(group) - fields)
  _check(not unknown, f"unknown stylegan2 options {', '.join(unknown)}; valid: "
         f"{', '.join(sorted(fields))}")
  o = StyleGAN2Options(**group)
  for name in ("r1_interval", "pl_interval"):
    v = getattr(o, name)
    _check(isinstance(v, int) and v >= 0, f"stylegan2.{name} must be an integer >= 0, got {v!r}")
  _check(isinstance(o.pl_batch_shrink, int) and o.pl_batch_shrink >= 1
         and config.batch_size % o.pl_batch_shrink == 0,
         f"stylegan2.pl_batch_shrink={o.pl_batch_shrink!r} must be an integer >= 1 dividing "
         f"batch_size={config.batch_size}")
  _check(0.0 <= o.mixing_prob <= 1.0, f"stylegan2.mixing_prob must be in [0, 1], got {o.mixing_prob!r}")
  _check_ada(config, o)
  _check(config.get("penalty", "none") == "none" and config.get("n_critic", 1) == 1
         and config.get("grad_accum_steps", 1) == 1 and not config.get("augment", "")
         and models.pack_size(config) == 1,
         "model stylegan2 has its own lazy R1 (stylegan2.r1_gamma): set penalty=none, "
         "n_critic=1, grad_accum_steps=1, augment='' and model.pack=1")
  return o


def _check_ada(config, o: StyleGAN2Options) -> None:
  """Refuses ADA settings that cannot work (jaxgan.ada)."""
  if not o.augment_pipe:
    return
  from jaxgan import ada
  _check(o.augment_pipe in ada.PIPES, f"unknown stylegan2.augment_pipe {o.augment_pipe!r}; "
         f"valid: {', '.join(ada.PIPES)}")
  _check(config.get("channels", 3) in (1, 3),
         f"ADA's pipeline needs 1 or 3 channels, got channels={config.get('channels')}")
  _check(isinstance(o.augment_p, (int, float)) and o.augment_p >= 0,
         f"stylegan2.augment_p must be >= 0, got {o.augment_p!r}")
  _check(isinstance(o.ada_target, (int, float)) and 0 <= o.ada_target < 1,
         f"stylegan2.ada_target must be in [0, 1) (0: p fixed), got {o.ada_target!r}")
  _check(isinstance(o.ada_interval, int) and o.ada_interval >= 1,
         f"stylegan2.ada_interval must be an integer >= 1, got {o.ada_interval!r}")
  _check(isinstance(o.ada_kimg, (int, float)) and o.ada_kimg > 0,
         f"stylegan2.ada_kimg must be > 0, got {o.ada_kimg!r}")


def build_stylegan2(config: ml_collections.ConfigDict) -> GANDef:
  """The StyleGAN2 GANDef: its options, Adam corrected for the lazy intervals, and the EMA
  decay of a half-life of ema_kimg thousand images at this batch size."""
  o = _stylegan2_options(config)
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  _check(not losses.batch_coupled(d_loss), f"stylegan2 needs a per-example loss, got {config.loss!r}")
  ema = 0.5 ** (config.batch_size / (o.ema_kimg * 1000)) if o.ema_kimg > 0 else config.get(
      "ema_decay", 0.0)
  _check(0.0 <= ema < 1.0, f"ema_decay must be in [0, 1), got {ema!r}")
  steps = config.get("num_train_steps", 0)
  generator, discriminator = models.build_models(config)
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(_lazy_adam(config.optimizer_g, o.pl_interval), steps),
                d_tx=optim.make_optimizer(_lazy_adam(config.optimizer_d, o.r1_interval), steps),
                d_loss=d_loss, g_loss=g_loss, skip_nonfinite=_skips_nonfinite(config),
                ema_decay=float(ema), stylegan2=o)


def _plain_step_only(config, what: str, ema: bool = False) -> None:
  """Refuses the default step's options a model's own step does not have (`ema`: its
  step keeps a generator EMA, ema_decay in [0, 1))."""
  decay = config.get("ema_decay", 0.0)
  _check(config.get("penalty", "none") == "none" and config.get("n_critic", 1) == 1
         and config.get("grad_accum_steps", 1) == 1 and not config.get("augment", "")
         and models.pack_size(config) == 1 and (0.0 <= decay < 1.0 if ema else decay == 0.0),
         f"model {what} supports penalty=none, n_critic=1, grad_accum_steps=1, "
         f"augment='', model.pack=1 and {'ema_decay in [0, 1)' if ema else 'ema_decay=0'}")


def _options(cls, config, group: str, fixed: dict, not_options: tuple[str, ...] = ()):
  """cls(**config[group], **fixed) with unknown fields named (the fixed ones come from
  elsewhere in the config; `not_options` are the group's fields read by others)."""
  fields = {f.name for f in dataclasses.fields(cls)} - set(fixed)
  given = {k: v for k, v in dict(config.get(group, {}) or {}).items() if k not in not_options}
  unknown = sorted(set(given) - fields)
  _check(not unknown, f"unknown {group} options {', '.join(unknown)}; valid: "
         f"{', '.join(sorted(fields))}")
  return cls(**given, **fixed)


def build_cycle(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None) -> GANDef:
  """CycleGAN's GANDef: both generators in one module and one optimizer, both
  discriminators likewise (as the authors' two Adams), the cycle and identity terms."""
  from jaxgan.train.cycle_step import CycleOptions
  o = _options(CycleOptions, config, "cycle", {"channels_a": models.input_channels(config)})
  for name in ("lambda_a", "lambda_b", "lambda_identity", "adv_weight"):
    _check(getattr(o, name) >= 0, f"cycle.{name} must be >= 0, got {getattr(o, name)!r}")
  _check(isinstance(o.pool_size, int) and o.pool_size >= 0,
         f"cycle.pool_size must be an integer >= 0, got {o.pool_size!r}")
  _check(o.lambda_identity == 0 or o.channels_a == config.channels,
         f"cycle.lambda_identity > 0 compares G_A(B) with B: domain A's input_channels "
         f"({o.channels_a}) must equal channels ({config.channels}), or set lambda_identity=0")
  _check(o.pool_size == 0 or config.get("parallel", "sharded") == "sharded",
         "cyclegan's fake pool is one global history: use parallel=sharded, or cycle.pool_size=0")
  _check(config.get("task", "noise") == "unpaired", "model cyclegan trains on two unpaired "
         "domains: set task='unpaired'")
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  _check(not losses.batch_coupled(d_loss) and not losses.needs_real_logits(g_loss),
         f"model cyclegan needs a per-patch loss without real logits in G's "
         f"(e.g. least_squares, dcgan, hinge), got {config.loss!r}")
  _plain_step_only(config, "cyclegan")
  steps = config.get("num_train_steps", 0)
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g, steps),
                d_tx=optim.make_optimizer(config.optimizer_d, steps),
                d_loss=d_loss, g_loss=g_loss, skip_nonfinite=_skips_nonfinite(config), cycle=o)


def _translation_options(config) -> TranslationOptions:
  o = _options(TranslationOptions, config, "translation",
               {"input_channels": models.input_channels(config)})
  _check(o.l1_weight >= 0, f"translation.l1_weight must be >= 0, got {o.l1_weight!r}")
  _check(o.d_loss_scale > 0, f"translation.d_loss_scale must be > 0, got {o.d_loss_scale!r}")
  return o


def build_translation(config: ml_collections.ConfigDict, *,
                      bn_axis_name: str | None = None) -> GANDef:
  """A paired image-to-image GANDef (pix2pix): U-Net G, PatchGAN D, adversarial + L1."""
  o = _translation_options(config)
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  _check(not losses.batch_coupled(d_loss) and not losses.needs_real_logits(g_loss),
         f"model {config.model.name} needs a per-patch loss without real logits in G's "
         f"(e.g. dcgan, least_squares, hinge), got {config.loss!r}")
  _check(config.get("task", "noise") == "paired",
         f"model {config.model.name} trains on paired data: set task='paired'")
  _plain_step_only(config, config.model.name)
  steps = config.get("num_train_steps", 0)
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g, steps),
                d_tx=optim.make_optimizer(config.optimizer_d, steps),
                d_loss=d_loss, g_loss=g_loss, skip_nonfinite=_skips_nonfinite(config),
                translation=o)


def _gan_def(config, options_field: str, options, *, bn_axis_name=None, **extra) -> GANDef:
  """The GANDef of an image model whose G and D each have one Adam of the config's."""
  steps = config.get("num_train_steps", 0)
  generator, discriminator = models.build_models(config, bn_axis_name=bn_axis_name)
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  return GANDef(generator=generator, discriminator=discriminator,
                g_tx=optim.make_optimizer(config.optimizer_g, steps),
                d_tx=optim.make_optimizer(config.optimizer_d, steps),
                d_loss=d_loss, g_loss=g_loss, skip_nonfinite=_skips_nonfinite(config),
                **{options_field: options}, **extra)


def build_superres(config: ml_collections.ConfigDict, *,
                   bn_axis_name: str | None = None) -> GANDef:
  """SRGAN / ESRGAN: G upsamples by superres.scale; D judges HR images; pixel, VGG
  feature and adversarial terms (train/superres_step.py). `superres.perceptual_weights`
  (the VGG19 file) is read by the loop (train/warm_start.py), not here."""
  from jaxgan.train.superres_step import SROptions
  o = _options(SROptions, config, "superres", {}, not_options=("perceptual_weights",))
  _check(config.get("task", "noise") == "superres",
         f"model {config.model.name} trains on low/high-resolution pairs: set task='superres'")
  _check(config.image_size % o.scale == 0,
         f"image_size={config.image_size} must be a multiple of superres.scale={o.scale}")
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  _check(not losses.batch_coupled(d_loss) and not losses.needs_real_logits(g_loss),
         f"model {config.model.name} takes its relativistic loss from superres.relativistic; "
         f"set loss to a per-example one (dcgan: BasicSR's vanilla), got {config.loss!r}")
  _plain_step_only(config, config.model.name, ema=True)  # ESRGAN keeps an EMA of G (0.999)
  return _gan_def(config, "superres", o, bn_axis_name=bn_axis_name,
                  ema_decay=float(config.get("ema_decay", 0.0)))


def build_inpaint(config: ml_collections.ConfigDict) -> GANDef:
  """DeepFill v2: gated-conv G with contextual attention, SN-PatchGAN D (hinge), L1 on
  the coarse and refined outputs (train/inpaint_step.py); holes drawn in the step."""
  from jaxgan.train.inpaint_step import InpaintOptions
  o = _options(InpaintOptions, config, "inpaint", {})
  _check(config.get("task", "noise") == "inpaint",
         f"model {config.model.name} fills holes in images: set task='inpaint'")
  d_loss, g_loss = losses.get_gan_loss(config.loss)
  _check(not losses.batch_coupled(d_loss) and not losses.needs_real_logits(g_loss),
         f"model {config.model.name} needs a per-patch loss without real logits in G's "
         f"(DeepFill v2: hinge), got {config.loss!r}")
  _plain_step_only(config, config.model.name)
  return _gan_def(config, "inpaint", o)


def is_image_model(config) -> bool:
  """Whether G takes an image rather than z (translation, super-resolution, inpainting)."""
  return config.model.name in models.IMAGE_MODELS


def edit_command(config) -> str | None:
  """The `jaxgan` command that applies this run's G to images; None for noise models."""
  name = config.model.name
  if name in models.TRANSLATION_MODELS:
    return "translate"
  if name in models.SUPERRES_MODELS:
    return "upscale"
  if name in models.INPAINT_MODELS:
    return "inpaint"
  return None


def is_translation(config) -> bool:
  """Whether G maps images to images (pix2pix on paired data, CycleGAN on unpaired
  domains) rather than noise to images."""
  return config.model.name in models.TRANSLATION_MODELS


def is_point_data(config) -> bool:
  """Whether examples are 2-D points (the toy mixtures), not images."""
  from jaxgan.data import toy2d
  return toy2d.is_toy(config.dataset)


def image_shape(config) -> tuple[int, ...]:
  """One example's shape: (H, W, C) for images, (2,) for the 2-D toy datasets."""
  if is_point_data(config):
    return (2,)
  return (config.image_size, config.image_size, config.channels)


def abstract_state(gan: GANDef, config, mesh) -> GANState:
  """The state's shapes and dtypes, replicated over `mesh` (a restore target)."""
  shapes = jax.eval_shape(functools.partial(init_state, gan, config.seed, image_shape(config)))
  return parallel.abstract_like(shapes, parallel.replicated(mesh))
