"""Model registry: a config's `model.name` -> (generator, discriminator) Flax modules.

Every generator exposes `latent_dim`. Noise models' G is called G(z, [labels,] train=)
and their D(x, [labels,] train=) returns logits (B,), or (logits, class logits) for
AC-GAN; `labels` is passed only to class-conditional models (model.num_classes > 0).
Image models (IMAGE_MODELS, latent_dim 0) take images: G(x) (pix2pix, SR), G(image, mask)
(inpainting), a pair's methods (CycleGAN); their steps say what D sees.
"""

import jax.numpy as jnp
import ml_collections

from jaxgan.errors import UsageError
from jaxgan.models import cyclegan, dcgan, mlp, packing, pix2pix, resnet, stylegan2

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
CONDITIONINGS = ("projection", "acgan")


def compute_dtype(config: ml_collections.ConfigDict):
  name = config.get("compute_dtype", "float32")
  if name not in _DTYPES:
    raise UsageError(f"unknown compute_dtype {name!r}; valid: {', '.join(_DTYPES)}")
  return _DTYPES[name]


def _check_channels(config) -> None:
  if config.get("channels") not in (1, 3):
    raise UsageError(f"channels must be 1 or 3, got {config.get('channels')!r}")


def num_classes(config: ml_collections.ConfigDict) -> int:
  """Classes of a class-conditional model; 0 for unconditional ones."""
  return int(config.model.get("num_classes", 0))


def conditioning(config: ml_collections.ConfigDict) -> str:
  """"projection" or "acgan" for conditional models, "" otherwise."""
  if not num_classes(config):
    return ""
  kind = config.model.get("conditioning", "projection")
  if kind not in CONDITIONINGS:
    raise UsageError(f"unknown conditioning {kind!r}; valid: {', '.join(CONDITIONINGS)}")
  return kind


def ac_weight(config: ml_collections.ConfigDict) -> float:
  """The AC-GAN class-loss weight (0 unless conditioning == "acgan")."""
  return float(config.model.get("ac_weight", 1.0)) if conditioning(config) == "acgan" else 0.0


def d_uses_batch_norm(config: ml_collections.ConfigDict) -> bool:
  """Whether D normalises with batch statistics (then per-example penalties are invalid)."""
  return config.model.name == "dcgan" and config.model.get("norm", "batch") == "batch"


def _spectral(config) -> bool:
  return bool(config.model.get("spectral_norm", False))


def _dcgan(config, bn_axis_name):
  _check_channels(config)
  m = config.model
  if num_classes(config) or _spectral(config):
    raise UsageError("model dcgan has no conditioning or spectral norm; use model.name=resnet")
  dcgan.num_stages(config.image_size)  # validates the resolution with a clear message
  dtype = compute_dtype(config)
  g = dcgan.Generator(image_size=config.image_size, channels=config.channels,
                      latent_dim=m.latent_dim, width=m.g_width, dtype=dtype,
                      bn_axis_name=bn_axis_name, conv_impl=config.get("conv_impl", "auto"),
                      norm=m.get("norm", "batch"))
  d = dcgan.Discriminator(image_size=config.image_size, channels=config.channels,
                          width=m.d_width, dtype=dtype, bn_axis_name=bn_axis_name,
                          conv_impl=config.get("conv_impl", "auto"), norm=m.get("norm", "batch"))
  return g, d


def _mlp(config, bn_axis_name):
  del bn_axis_name  # no batch statistics
  m = config.model
  if num_classes(config):
    raise UsageError("model mlp is unconditional; set model.num_classes=0")
  dtype = compute_dtype(config)
  g = mlp.Generator(latent_dim=m.latent_dim, width=m.g_width, depth=m.get("g_depth", 3),
                    dtype=dtype)
  d = mlp.Discriminator(width=m.d_width, depth=m.get("d_depth", 3), spectral=_spectral(config),
                        dtype=dtype)
  return g, d


def _resnet(config, bn_axis_name):
  _check_channels(config)
  m = config.model
  resnet.num_resamplings(config.image_size)  # validates the resolution with a clear message
  dtype, impl = compute_dtype(config), config.get("conv_impl", "auto")
  g = resnet.Generator(image_size=config.image_size, channels=config.channels,
                       latent_dim=m.latent_dim, width=m.g_width, num_classes=num_classes(config),
                       bn_axis_name=bn_axis_name, dtype=dtype, conv_impl=impl)
  d = resnet.Discriminator(image_size=config.image_size, channels=config.channels,
                           width=m.d_width, spectral=_spectral(config),
                           num_classes=num_classes(config),
                           conditioning=conditioning(config) or "projection", dtype=dtype,
                           conv_impl=impl)
  return g, d


def _stylegan2(config, bn_axis_name):
  del bn_axis_name  # no batch statistics
  _check_channels(config)
  m = config.model
  if num_classes(config) or _spectral(config):
    raise UsageError("model stylegan2 is unconditional without spectral norm; set "
                     "model.num_classes=0 and model.spectral_norm=False")
  stylegan2.log2_resolution(config.image_size)  # validates the resolution with a clear message
  dtype, impl = compute_dtype(config), config.get("conv_impl", "auto")
  clamp = m.get("conv_clamp", 0.0) or None  # 0: no clamp
  g = stylegan2.Generator(image_size=config.image_size, channels=config.channels,
                          latent_dim=m.latent_dim, w_dim=m.get("w_dim", m.latent_dim),
                          mapping_layers=m.mapping_layers, channel_base=m.channel_base,
                          channel_max=m.channel_max, conv_clamp=clamp, dtype=dtype,
                          conv_impl=impl)
  d = stylegan2.Discriminator(image_size=config.image_size, channels=config.channels,
                              channel_base=m.channel_base, channel_max=m.channel_max,
                              mbstd_group=m.mbstd_group, conv_clamp=clamp, dtype=dtype,
                              conv_impl=impl)
  return g, d


def input_channels(config: ml_collections.ConfigDict) -> int:
  """Channels of a translation model's input image (default: the output's)."""
  c = config.get("input_channels", config.get("channels"))
  if c not in (1, 3):
    raise UsageError(f"input_channels must be 1 or 3, got {c!r}")
  return c


def _translation_norm(config, default: str) -> str:
  """The validated model.norm of an image-to-image model (no classes, no spectral norm)."""
  _check_channels(config)
  if num_classes(config) or _spectral(config):
    raise UsageError(f"model {config.model.name} maps images to images, without classes or "
                     "spectral norm; set model.num_classes=0 and model.spectral_norm=False")
  norm = config.model.get("norm", default)
  if norm not in pix2pix.NORMS:
    raise UsageError(f"unknown norm {norm!r}; valid: {', '.join(pix2pix.NORMS)}")
  return norm


def _pix2pix(config, bn_axis_name):
  m = config.model
  norm = _translation_norm(config, "batch")
  pix2pix.num_downs(config.image_size)  # validates the resolution with a clear message
  dtype, impl = compute_dtype(config), config.get("conv_impl", "auto")
  g = pix2pix.UNetGenerator(image_size=config.image_size, channels=config.channels,
                            width=m.g_width, norm=norm, dropout=m.get("dropout", 0.5),
                            dtype=dtype, bn_axis_name=bn_axis_name, conv_impl=impl)
  d = pix2pix.PatchDiscriminator(channels=input_channels(config) + config.channels,
                                 width=m.d_width, num_layers=m.get("d_layers", 3), norm=norm,
                                 dtype=dtype, bn_axis_name=bn_axis_name, conv_impl=impl)
  return g, d


def _cyclegan(config, bn_axis_name):
  m = config.model
  norm = _translation_norm(config, "instance")
  if config.image_size % 4:
    raise UsageError(f"cyclegan needs an image_size divisible by 4, got {config.image_size}")
  return cyclegan.build(channels_a=input_channels(config), channels_b=config.channels,
                        width_g=m.g_width, width_d=m.d_width, num_blocks=m.get("num_blocks", 9),
                        norm=norm, d_layers=m.get("d_layers", 3), dropout=m.get("dropout", 0.0),
                        dtype=compute_dtype(config), bn_axis_name=bn_axis_name,
                        conv_impl=config.get("conv_impl", "auto"))


def superres_scale(config: ml_collections.ConfigDict) -> int:
  """The upscaling factor of a super-resolution model (config.superres.scale, default 4)."""
  return int((config.get("superres") or {}).get("scale", 4))


def _image_model_checks(config) -> None:
  _check_channels(config)
  if num_classes(config) or _spectral(config):
    raise UsageError(f"model {config.model.name} maps images to images, without classes or "
                     "spectral-norm options; set model.num_classes=0 and model.spectral_norm=False")


def _srgan(config, bn_axis_name):
  from jaxgan.models import srgan
  _image_model_checks(config)
  m, dtype, impl = config.model, compute_dtype(config), config.get("conv_impl", "auto")
  g = srgan.SRResNet(scale=superres_scale(config), channels=config.channels, width=m.g_width,
                     num_blocks=m.get("num_blocks", 16), dtype=dtype, bn_axis_name=bn_axis_name,
                     conv_impl=impl)
  d = srgan.SRGANDiscriminator(image_size=config.image_size, channels=config.channels,
                               width=m.d_width, dense_width=m.get("dense_width", 1024),
                               dtype=dtype, bn_axis_name=bn_axis_name, conv_impl=impl)
  return g, d


def _esrgan(config, bn_axis_name):
  from jaxgan.models import srgan
  _image_model_checks(config)
  m, dtype, impl = config.model, compute_dtype(config), config.get("conv_impl", "auto")
  g = srgan.RRDBNet(scale=superres_scale(config), channels=config.channels, num_feat=m.g_width,
                    num_block=m.get("num_blocks", 23), num_grow_ch=m.get("growth", 32),
                    dtype=dtype, conv_impl=impl)
  d = srgan.VGGStyleDiscriminator(image_size=config.image_size, channels=config.channels,
                                  num_feat=m.d_width, dtype=dtype, bn_axis_name=bn_axis_name,
                                  conv_impl=impl)
  return g, d


def _deepfill(config, bn_axis_name):
  del bn_axis_name  # no batch statistics (D's spectral-norm vectors are per network)
  from jaxgan.models import inpaint
  _image_model_checks(config)
  if config.image_size % 8:
    raise UsageError(f"deepfill needs an image_size divisible by 8, got {config.image_size}")
  m, dtype, impl = config.model, compute_dtype(config), config.get("conv_impl", "auto")
  g = inpaint.DeepFillGenerator(channels=config.channels, width=m.g_width, dtype=dtype,
                                conv_impl=impl)
  d = inpaint.SNPatchDiscriminator(channels=config.channels, width=m.d_width, dtype=dtype,
                                   conv_impl=impl)
  return g, d


MODELS = {"cyclegan": _cyclegan, "dcgan": _dcgan, "deepfill": _deepfill, "esrgan": _esrgan,
          "mlp": _mlp, "pix2pix": _pix2pix, "resnet": _resnet, "srgan": _srgan,
          "stylegan2": _stylegan2}

# Models whose G maps an input image to an image: pix2pix on paired data (translation
# step), CycleGAN on two unpaired domains (cycle step).
TRANSLATION_MODELS = ("pix2pix", "cyclegan")
SUPERRES_MODELS = ("srgan", "esrgan")   # G upsamples a low-resolution image
INPAINT_MODELS = ("deepfill",)          # G fills the holes of an image
# Every model whose G takes an image, not z (no sampling from noise, no FID of G(z)).
IMAGE_MODELS = TRANSLATION_MODELS + SUPERRES_MODELS + INPAINT_MODELS


def build_models(config: ml_collections.ConfigDict, *, bn_axis_name: str | None = None):
  """(generator, discriminator) for `config`. Generators expose `latent_dim`."""
  name = config.model.name
  if name not in MODELS:
    raise UsageError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
  conditioning(config)  # validates the name
  g, d = MODELS[name](config, bn_axis_name)
  m = pack_size(config)
  if m == 1:
    return g, d
  if num_classes(config):
    raise UsageError("model.pack > 1 (PacGAN) needs an unconditional model; set model.num_classes=0")
  if hasattr(d, "channels"):  # image D: its first layer sees m times the channels
    d = d.clone(channels=d.channels * m)
  return g, packing.Packed(d, m)


def pack_size(config: ml_collections.ConfigDict) -> int:
  """PacGAN's m: how many samples D judges together (1: plain D)."""
  m = config.model.get("pack", 1)
  if not isinstance(m, int) or m < 1:
    raise UsageError(f"model.pack must be an integer >= 1, got {m!r}")
  return m
