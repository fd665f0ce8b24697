"""The super-resolution GAN step: SRGAN (Ledig et al. 2017) and ESRGAN (Wang et al. 2018).

One compiled function, in the order of BasicSR's SRGANModel / ESRGANModel
`optimize_parameters` (XPixelGroup/BasicSR, the ESRGAN authors' code):

1. fake = G(lr) (train mode); a G update on
     pixel_weight * pixel(fake, hr) + perceptual_weight * crit(VGG(fake), VGG(hr))
     + adv_weight * adversarial,
   through D *before* its update (D's parameters fixed, its BatchNorm in train mode, so
   its running statistics see these passes too).
2. a D update on hr and on the fake of step 1, detached (made before G's update).
With adv_weight 0 (the PSNR-oriented first phase, BasicSR's SRModel) D is neither run
nor updated: the step is G's alone.

Adversarial terms (logistic, BCE-with-logits against 1 / 0 as BasicSR's 'vanilla'):
- standard (SRGAN): G minimises gan.g_loss(D(fake)); D minimises gan.d_loss(D(hr),
  D(fake)) = BCE(real, 1) + BCE(fake, 0) with the config's "dcgan" losses. D's passes in
  the D phase: real, then fake.
- relativistic (ESRGAN's RaGAN): G minimises (BCE(D(hr) - E D(fake), 0) + BCE(D(fake) -
  E D(hr), 1)) / 2 with D(hr) detached (losses.relativistic_average_g_loss / 2); D
  minimises BCE(D(hr) - E D(fake), 1) / 2 + BCE(D(fake) - E D(hr), 0) / 2, each half
  with the other kind's mean detached, as BasicSR's two separate backwards. D's passes:
  G phase real then fake; D phase fake (its mean only), real, fake: three D forwards, as
  BasicSR, so that its running statistics follow the same sequence.
Means are over the global batch (pmean under pmap).

Ranges and weights. Images are in [-1, 1]; the pixel loss is taken there (the SRGAN
paper computes its MSE on [-1, 1] HR images). BasicSR's losses are on [0, 1] images, so
its L1 weight w is w / 2 here (MSE: w / 4): the ESRGAN preset's pixel_weight 5e-3 is
BasicSR's 1e-2. The VGG maps its [-1, 1] input to [0, 1] and normalises by ImageNet's
mean and std (jaxgan/models/vgg.py), so feature losses need no conversion.

SRGAN's VGG54 loss: the paper rescales the VGG feature maps by 1/12.75 "to obtain VGG
losses of a scale that is comparable to the MSE loss. This is equivalent to multiplying
Eq. (5) with a rescaling factor of ~0.006": MSE of relu5_4 features times 1/12.75^2 =
0.00615, which the SRGAN preset writes as perceptual_weight 0.006 (the paper's figure).
ESRGAN (BasicSR's train_ESRGAN_x4.yml): L1 of conv5_4 (before the ReLU) weight 1.0,
pixel L1 1e-2 on [0, 1], adversarial 5e-3, relativistic.

The VGG's variables live in state.extras["perceptual"] (frozen: never differentiated or
updated, carried in checkpoints). init_extras gives randomly initialised ones of the right
shapes; with_perceptual_weights swaps in torchvision's (vgg.load_torchvision_vgg19).
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan import losses
from jaxgan.errors import UsageError
from jaxgan.models import vgg
from jaxgan.train.state import GANDef, GANState
from jaxgan.train.steps import _apply_updates, _finish

PIXEL_LOSSES = ("mse", "l1", "none")
FEATURE_CRITERIA = ("l1", "mse")


@dataclasses.dataclass(frozen=True)
class SROptions:
  """Static options of the super-resolution step (config group `superres`). The defaults
  are the SRGAN paper's SRGAN-VGG54 objective; PRESETS["esrgan"] is BasicSR's ESRGAN."""
  scale: int = 4                   # HR size / LR size
  pixel_loss: str = "none"         # PIXEL_LOSSES: "mse" (SRResNet pretraining), "l1" (ESRGAN)
  pixel_weight: float = 1.0        # on [-1, 1] images (BasicSR's [0, 1] L1 weight / 2)
  perceptual_layer: str = "relu5_4"  # VGG19 layer (vgg.LAYERS); "" = no perceptual term
  perceptual_criterion: str = "mse"  # FEATURE_CRITERIA: SRGAN mse, ESRGAN l1
  perceptual_weight: float = 0.006   # SRGAN: 1/12.75^2 ~ 0.006; ESRGAN 1.0
  adv_weight: float = 1e-3         # SRGAN 1e-3, ESRGAN 5e-3
  relativistic: bool = False       # ESRGAN's relativistic average D (RaGAN)
  perceptual_width_divisor: int = 1  # > 1: a narrower VGG, for tests only (real weights: 1)

  def __post_init__(self):
    if self.scale not in (1, 2, 4):
      raise UsageError(f"superres.scale must be 1, 2 or 4, got {self.scale!r}")
    if self.pixel_loss not in PIXEL_LOSSES:
      raise UsageError(f"unknown superres.pixel_loss {self.pixel_loss!r}; valid: "
                       f"{', '.join(PIXEL_LOSSES)}")
    if self.perceptual_criterion not in FEATURE_CRITERIA:
      raise UsageError(f"unknown superres.perceptual_criterion {self.perceptual_criterion!r}; "
                       f"valid: {', '.join(FEATURE_CRITERIA)}")
    if self.perceptual_layer and self.perceptual_layer not in vgg.LAYERS:
      raise UsageError(f"unknown superres.perceptual_layer {self.perceptual_layer!r}; valid: "
                       f"'' (off) or a VGG19 layer such as relu5_4, conv5_4")
    for name in ("pixel_weight", "perceptual_weight", "adv_weight"):
      if not getattr(self, name) >= 0:
        raise UsageError(f"superres.{name} must be >= 0, got {getattr(self, name)!r}")


PRESETS = {
    # Ledig et al. 2017, SRGAN-VGG54 (their SRResNet-MSE pretraining: pixel_loss="mse",
    # pixel_weight=1, perceptual_layer="", adv_weight=0).
    "srgan": SROptions(),
    # BasicSR options/train/ESRGAN/train_ESRGAN_x4.yml, weights converted to [-1, 1].
    "esrgan": SROptions(pixel_loss="l1", pixel_weight=5e-3, perceptual_layer="conv5_4",
                        perceptual_criterion="l1", perceptual_weight=1.0, adv_weight=5e-3,
                        relativistic=True),
}


def perceptual_net(options: SROptions, dtype=jnp.float32) -> vgg.VGG19Features:
  return vgg.VGG19Features(options.perceptual_layer, dtype=dtype,
                           width_divisor=options.perceptual_width_divisor)


def init_extras(options: SROptions, key: jax.Array) -> dict:
  """state.extras of a fresh SR run: {"perceptual": VGG variables} (random, right shapes:
  swap real ones in with with_perceptual_weights), {} when the perceptual term is off."""
  if not options.perceptual_layer:
    return {}
  return {"perceptual": vgg.init_variables(options.perceptual_layer, key,
                                           options.perceptual_width_divisor)}


def with_perceptual_weights(state: GANState, variables: dict) -> GANState:
  """state with the VGG variables replaced (e.g. vgg.load_torchvision_vgg19(path, layer)):
  the same tree and shapes as init_extras gave, else a ValueError."""
  old = state.extras.get("perceptual")
  if old is None:
    raise ValueError("this state has no perceptual network (superres.perceptual_layer is '')")
  if jax.tree.structure(old) != jax.tree.structure(variables) or any(
      a.shape != b.shape for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(variables))):
    raise ValueError("the VGG variables do not match the state's (another perceptual_layer?)")
  variables = jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype), old, variables)
  return state.replace(extras={**state.extras, "perceptual": variables})


def _g_apply(gan: GANDef, params, stats, x, *, train: bool = True):
  out, m = gan.generator.apply({"params": params, "batch_stats": stats}, x, train=train,
                               mutable=["batch_stats"])
  return out, m.get("batch_stats", {})


def _d_apply(gan: GANDef, params, stats, x):
  logits, m = gan.discriminator.apply({"params": params, "batch_stats": stats}, x, train=True,
                                      mutable=["batch_stats"])
  return logits, m.get("batch_stats", {})


def _gmean(x: jax.Array, axis_name: str | None) -> jax.Array:
  m = jnp.mean(x)
  return jax.lax.pmean(m, axis_name) if axis_name else m


def _check_batch(o: SROptions, lr: jax.Array, hr: jax.Array) -> None:
  if lr.ndim != 4 or hr.ndim != 4:
    raise ValueError(f"superres batches are (B, H, W, C): got input {lr.shape}, image {hr.shape}")
  want = (lr.shape[0], lr.shape[1] * o.scale, lr.shape[2] * o.scale, lr.shape[3])
  if hr.shape != want:
    raise ValueError(f"superres x{o.scale}: input {lr.shape} needs image {want}, got {hr.shape}")


def superres_train_step(state: GANState, batch: dict, *, gan: GANDef,
                        axis_name: str | None = None) -> tuple[GANState, dict]:
  """One G update, then one D update, on a batch of LR / HR pairs.

  Args:
    state: the training state; state.extras["perceptual"] the VGG variables when the
      perceptual term is on (init_extras).
    batch: {'input': LR (B, h, w, C), 'image': HR (B, h s, w s, C)}, both in [-1, 1]:
      the global batch under sharded jit, the per-device batch under pmap.
    gan: its `superres` field holds the SROptions.
    axis_name: the pmap axis to average gradients and metrics over; None under jit.
  Returns:
    (new state, metrics): d_loss (the objective D minimises), g_loss (G's adversarial term,
    unweighted), g_pixel and g_perceptual (unweighted; present when on), g_total (G's
    weighted objective), d_real / d_fake (mean sigmoid of D on hr / the fake in D's
    phase), gradient and parameter norms.
  """
  o = gan.superres
  lr, hr = batch["input"], batch["image"]
  _check_batch(o, lr, hr)
  g_scale = getattr(gan.generator, "scale", o.scale)
  if g_scale != o.scale:
    raise UsageError(f"superres.scale={o.scale} but the generator upsamples x{g_scale}")
  if not o.relativistic and losses.needs_real_logits(gan.g_loss):
    raise UsageError("a relativistic loss for the SR step: set superres.relativistic=True")
  if o.perceptual_layer and "perceptual" not in state.extras:
    raise ValueError("superres.perceptual_layer is set but state.extras has no 'perceptual' "
                     "variables (init_extras)")
  adversarial = o.adv_weight > 0
  fake, g_pullback, g_stats = jax.vjp(
      lambda p: _g_apply(gan, p, state.g.batch_stats, lr), state.g.params, has_aux=True)
  d0 = state.d
  hr_feats = None
  if o.perceptual_layer:
    net = perceptual_net(o, getattr(gan.generator, "dtype", jnp.float32))
    feats = lambda x: net.apply(jax.lax.stop_gradient(state.extras["perceptual"]), x)
    hr_feats = jax.lax.stop_gradient(feats(hr))
  crit = lambda a, b, kind: jnp.mean(jnp.abs(a - b) if kind == "l1" else jnp.square(a - b))

  def g_objective(fake_images):
    terms = {}
    total = 0.0
    if o.pixel_loss != "none":
      terms["g_pixel"] = crit(fake_images, hr, o.pixel_loss)
      total += o.pixel_weight * terms["g_pixel"]
    if o.perceptual_layer:
      terms["g_perceptual"] = crit(feats(fake_images), hr_feats, o.perceptual_criterion)
      total += o.perceptual_weight * terms["g_perceptual"]
    stats = d0.batch_stats
    if not adversarial:  # the PSNR-oriented phase (SRResNet, RRDBNet-PSNR): no D
      return total, (stats, terms)
    if o.relativistic:  # BasicSR: D(hr) first, detached; then D(fake)
      real_logits, stats = _d_apply(gan, d0.params, stats, hr)
      fake_logits, stats = _d_apply(gan, d0.params, stats, fake_images)
      adv = 0.5 * jnp.mean(losses.relativistic_average_g_loss(
          fake_logits, jax.lax.stop_gradient(real_logits), axis_name=axis_name))
    else:
      fake_logits, stats = _d_apply(gan, d0.params, stats, fake_images)
      adv = jnp.mean(gan.g_loss(fake_logits))
    terms["g_loss"] = adv
    total += o.adv_weight * adv
    return total, (stats, terms)

  (g_total, (d_stats, g_terms)), d_fake = jax.value_and_grad(g_objective, has_aux=True)(fake)
  (g_grads,) = g_pullback(d_fake)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_stats)

  if not adversarial:  # D is neither run nor updated (BasicSR's SRModel has none)
    zeros = jax.tree.map(jnp.zeros_like, d0.params)
    return _finish(state, g_new, d0, zeros, g_grads, axis_name,
                   skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                   g_total=g_total, **g_terms)

  fake_sg = jax.lax.stop_gradient(fake)

  def d_objective(params):
    stats = d_stats
    if o.relativistic:
      first_fake, stats = _d_apply(gan, params, stats, fake_sg)  # its mean only
      real_logits, stats = _d_apply(gan, params, stats, hr)
      fake_logits, stats = _d_apply(gan, params, stats, fake_sg)
      fake_mean = jax.lax.stop_gradient(_gmean(first_fake, axis_name))
      real_mean = jax.lax.stop_gradient(_gmean(real_logits, axis_name))
      loss = (0.5 * jnp.mean(jax.nn.softplus(-(real_logits - fake_mean)))
              + 0.5 * jnp.mean(jax.nn.softplus(fake_logits - real_mean)))
    else:
      real_logits, stats = _d_apply(gan, params, stats, hr)
      fake_logits, stats = _d_apply(gan, params, stats, fake_sg)
      loss = jnp.mean(gan.d_loss(real_logits, fake_logits))
    return loss, (stats, real_logits, fake_logits)

  (d_loss, (d_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
      d_objective, has_aux=True)(d0.params)
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(d0, d_grads, gan.d_tx, d_stats)
  sig = lambda t: jnp.mean(jax.nn.sigmoid(t))
  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                 d_loss=d_loss, g_total=g_total, d_real=sig(real_logits),
                 d_fake=sig(fake_logits), **g_terms)


def upscale(gan: GANDef, params, stats, lr: jax.Array) -> jax.Array:
  """G(lr) for inference (eval mode: BatchNorm's running statistics), lr (N, h, w, C) in
  [-1, 1] -> (N, h s, w s, C)."""
  return _g_apply(gan, params, stats, lr, train=False)[0]
