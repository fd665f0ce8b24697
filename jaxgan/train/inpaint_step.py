"""The DeepFill v2 inpainting step (Yu et al. 2019; the official v2 inpaint_model.py and
the PyTorch port's train.py, benchmarks/torch_inpaint.py's make_trainer).

One compiled function, in the port's order: (coarse, refined) = G(image, mask); the
composite refined * mask + image * (1 - mask); a D update with one SN-PatchGAN pass over
[real; composite detached], each with the mask as a fourth channel, loss d_loss_scale *
(mean hinge on real + mean hinge on fake) (the official gan_hinge_loss halves both); then
a G update against the *updated* D (its second power iteration of the step):
adv_weight * L_G(D(composite, mask)) + l1_weight * (mean|image - coarse| + mean|image -
refined|), the v2 ae_loss over the whole image (not hole-normalised), back-propagated
through the same G forward. Losses average over patches and examples.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError
from jaxgan.models.inpaint import check_inputs, composite
from jaxgan.train.state import GANDef, GANState
from jaxgan.train.steps import _apply_updates, _finish


@dataclasses.dataclass(frozen=True)
class InpaintOptions:
  """Static options of the inpainting step (config group `inpaint`); the official
  inpaint.yml / the port's configs/train.yaml: l1_loss_alpha 1, gan_loss_alpha 1."""
  l1_weight: float = 1.0       # on each of the coarse and the refined L1 terms
  adv_weight: float = 1.0      # gan_loss_alpha
  d_loss_scale: float = 0.5    # official hinge: 0.5 * hinge_pos + 0.5 * hinge_neg
  masks: str = "deepfill"      # the holes drawn per example (data/masks.py KINDS)

  def __post_init__(self):
    from jaxgan.data.masks import KINDS
    if self.masks not in KINDS:
      raise UsageError(f"unknown inpaint.masks {self.masks!r}; valid: {', '.join(KINDS)}")
    for name in ("l1_weight", "adv_weight", "d_loss_scale"):
      if not getattr(self, name) >= 0:
        raise UsageError(f"inpaint.{name} must be >= 0, got {getattr(self, name)!r}")


MASK_STREAM = 5 << 16  # fold_in offset of the holes' key (the other streams are below)


def with_masks(state: GANState, batch: dict, options: InpaintOptions,
               axis_name: str | None = None) -> dict:
  """`batch` with this step's holes, unless it has its own 'mask'. Example i of the global
  batch gets data/masks.random_mask(fold_in(key, i)): under pmap each device draws its
  slice's indices, so the holes are the same on any number of devices, jit or pmap."""
  if "mask" in batch:
    return batch
  from jaxgan.data import masks
  image = batch["image"]
  n, size = image.shape[0], image.shape[1]
  if image.shape[2] != size:
    raise ValueError(f"drawn holes are square: images must be square, got {image.shape}")
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), MASK_STREAM)
  first = jax.lax.axis_index(axis_name) * n if axis_name else 0
  return {**batch, "mask": masks.random_masks(key, first + jnp.arange(n), size, options.masks)}


def g_apply(gan: GANDef, params, image, mask, *, train: bool = True):
  """(coarse, refined) raw outputs of G (no batch statistics, no randomness)."""
  return gan.generator.apply({"params": params}, image, mask, train=train)


def _d_apply(gan: GANDef, params, stats, image, mask):
  logits, m = gan.discriminator.apply({"params": params, "batch_stats": stats},
                                      jnp.concatenate([image, mask], axis=-1), train=True,
                                      mutable=["batch_stats"])
  return logits, m["batch_stats"]


def inpaint_train_step(state: GANState, batch: dict, *, gan: GANDef,
                       axis_name: str | None = None) -> tuple[GANState, dict]:
  """One D update, then one G update.

  Args:
    state: the training state (D's batch_stats hold its spectral-norm vectors).
    batch: {'image': float (B, H, W, C) in [-1, 1], 'mask': float (B, H, W, 1), 1 = hole};
      H and W multiples of 8. The global batch under sharded jit, the per-device batch
      under pmap.
    gan: its `inpaint` field holds the InpaintOptions; d_loss / g_loss are the GAN losses
      (DeepFill: "hinge").
    axis_name: the pmap axis to average gradients and metrics over; None under jit.
  Returns:
    (new state, metrics): d_loss (the objective D minimises), g_loss (G's adversarial term,
    unweighted), g_l1 (coarse + refined L1, unweighted), g_l1_coarse, g_l1_refined, mean
    sigmoid(D) on real pairs and on composites before / after D's update, gradient and
    parameter norms.
  """
  o = gan.inpaint
  image, mask = batch["image"], batch["mask"]
  check_inputs(image, mask)
  image, mask = image.astype(jnp.float32), mask.astype(jnp.float32)
  (coarse, refined), g_pullback = jax.vjp(lambda p: g_apply(gan, p, image, mask),
                                          state.g.params)
  fake = jax.lax.stop_gradient(composite(image, mask, refined))
  b = image.shape[0]

  def d_loss_fn(params):
    # One pass over [real; fake], as the reference: one power iteration per D update.
    logits, stats = _d_apply(gan, params, state.d.batch_stats,
                             jnp.concatenate([image, fake]), jnp.concatenate([mask, mask]))
    real_logits, fake_logits = logits[:b], logits[b:]
    loss = o.d_loss_scale * jnp.mean(gan.d_loss(real_logits, fake_logits))
    return loss, (stats, real_logits, fake_logits)

  (d_loss, (d_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d.params)
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(state.d, d_grads, gan.d_tx, d_stats)

  def g_loss_wrt_outputs(outputs):
    c, r = outputs
    logits, stats = _d_apply(gan, d_new.params, d_new.batch_stats, composite(image, mask, r),
                             mask)
    adv = jnp.mean(gan.g_loss(logits))
    l1_c, l1_r = jnp.mean(jnp.abs(image - c)), jnp.mean(jnp.abs(image - r))
    return o.adv_weight * adv + o.l1_weight * (l1_c + l1_r), (stats, logits, adv, l1_c, l1_r)

  (_, (d_stats, logits_after, g_adv, l1_c, l1_r)), d_out = jax.value_and_grad(
      g_loss_wrt_outputs, has_aux=True)((coarse, refined))
  (g_grads,) = g_pullback(d_out)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, state.g.batch_stats)
  d_new = d_new.replace(batch_stats=d_stats)  # D's power iteration also ran in G's pass
  sig = lambda t: jnp.mean(jax.nn.sigmoid(t))
  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                 d_loss=d_loss, g_loss=g_adv, g_l1=l1_c + l1_r, g_l1_coarse=l1_c,
                 g_l1_refined=l1_r, d_real=sig(real_logits), d_fake_before=sig(fake_logits),
                 d_fake_after=sig(logits_after))


def inpaint(gan: GANDef, params, stats, image: jax.Array, mask: jax.Array) -> jax.Array:
  """The inpainted images: G's refined output inside the hole, `image` exactly outside.

  image (N, H, W, C) in [-1, 1], mask (N, H, W, 1) with 1 = hole (binary: pixels where
  mask is 0 are the input's, bit for bit). `stats`: G's batch_stats (DeepFill has none;
  taken for the common signature).
  """
  del stats
  check_inputs(image, mask)
  image, mask = jnp.asarray(image, jnp.float32), jnp.asarray(mask, jnp.float32)
  _, refined = g_apply(gan, params, image, mask, train=False)
  return jnp.where(mask > 0, composite(image, mask, refined), image)
