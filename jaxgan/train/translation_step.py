"""The paired image-to-image translation step (pix2pix, Isola et al. 2017).

One compiled function, in the order of the authors' `optimize_parameters`:
fake = G(x) (train mode, dropout on); a D update on (x, fake) detached, then (x, y),
with loss d_loss_scale * (L(D(x, y), real) + L(D(x, fake), fake)) (pix2pix halves it
to slow D down); then a G update against the *updated* D:
L_G(D(x, fake)) + l1_weight * |fake - y|_1, back-propagated through the same G forward.
D judges the input and the image concatenated along channels (a conditional GAN) and
returns one logit per patch; losses average over patches and examples.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan.train.state import GANDef, GANState
from jaxgan.train.steps import _apply_updates, _finish

DROPOUT_STREAM = 4 << 16  # fold_in offset of G's dropout key (steps.py's streams are below)


@dataclasses.dataclass(frozen=True)
class TranslationOptions:
  """Static options of the paired step (config group `translation`)."""
  l1_weight: float = 100.0     # lambda_L1 of pix2pix
  d_loss_scale: float = 0.5    # pix2pix divides D's objective by 2
  input_channels: int = 3      # channels of the input image (the target's are config.channels)


def g_apply(gan: GANDef, params, stats, x, dropout_key, *, train: bool = True,
            method: str | None = None):
  """G(x): (images, new batch_stats). Train mode draws dropout masks from `dropout_key`.
  `method`: which generator of a pair (CycleGAN's "a_to_b" / "b_to_a")."""
  out, m = gan.generator.apply({"params": params, "batch_stats": stats}, x, train=train,
                               mutable=["batch_stats"], rngs={"dropout": dropout_key},
                               method=method)
  return out, m["batch_stats"]


def _d_apply(gan: GANDef, params, stats, x, y):
  logits, m = gan.discriminator.apply({"params": params, "batch_stats": stats},
                                      jnp.concatenate([x, y], axis=-1), train=True,
                                      mutable=["batch_stats"])
  return logits, m["batch_stats"]


def dropout_key(state: GANState, axis_name: str | None) -> jax.Array:
  """This step's dropout key; under pmap each device folds in its index, so devices
  draw different masks (under sharded jit one global draw covers the batch)."""
  key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), DROPOUT_STREAM)
  return jax.random.fold_in(key, jax.lax.axis_index(axis_name)) if axis_name else key


def translation_train_step(state: GANState, batch: dict, *, gan: GANDef,
                           axis_name: str | None = None) -> tuple[GANState, dict]:
  """One D update, then one G update, on a paired batch.

  Args:
    state: the training state.
    batch: {'input': float (B, H, W, C_in) in [-1, 1], 'image': float (B, H, W, C) in
      [-1, 1]}: the global batch under sharded jit, the per-device batch under pmap.
    gan: its `translation` field holds the TranslationOptions.
    axis_name: the pmap axis to average gradients and metrics over; None under jit.
  Returns:
    (new state, metrics): d_loss (the objective D minimises), g_loss (G's adversarial
    term), g_l1, mean sigmoid(D) on real pairs and on fakes before / after D's update,
    gradient and parameter norms.
  """
  o = gan.translation
  x, y = batch["input"], batch["image"]
  fake, g_pullback, g_stats = jax.vjp(
      lambda p: g_apply(gan, p, state.g.batch_stats, x, dropout_key(state, axis_name)),
      state.g.params, has_aux=True)

  def d_loss_fn(params):
    # Fakes first, as the reference's backward_D: BatchNorm's running statistics
    # see the two passes in the same order.
    fake_logits, stats = _d_apply(gan, params, state.d.batch_stats, x,
                                  jax.lax.stop_gradient(fake))
    real_logits, stats = _d_apply(gan, params, stats, x, y)
    loss = o.d_loss_scale * jnp.mean(gan.d_loss(real_logits, fake_logits))
    return loss, (stats, real_logits, fake_logits)

  (d_loss, (d_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d.params)
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(state.d, d_grads, gan.d_tx, d_stats)

  def g_loss_wrt_fake(fake_images):
    logits, stats = _d_apply(gan, d_new.params, d_new.batch_stats, x, fake_images)
    adv = jnp.mean(gan.g_loss(logits))
    l1 = jnp.mean(jnp.abs(fake_images - y))
    return adv + o.l1_weight * l1, (stats, logits, adv, l1)

  (_, (d_stats, logits_after, g_adv, g_l1)), d_fake = jax.value_and_grad(
      g_loss_wrt_fake, has_aux=True)(fake)
  (g_grads,) = g_pullback(d_fake)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_stats)
  d_new = d_new.replace(batch_stats=d_stats)  # D's statistics also saw G's pass
  sig = lambda t: jnp.mean(jax.nn.sigmoid(t))
  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                 d_loss=d_loss, g_loss=g_adv, g_l1=g_l1, d_real=sig(real_logits),
                 d_fake_before=sig(fake_logits), d_fake_after=sig(logits_after))


INFERENCE_MODES = ("auto", "paper", "eval")


def inference_mode(mode: str, batch_size: int) -> str:
  """"auto" -> "paper" for a model trained at batch 1 (its BatchNorm only ever saw one
  image's statistics, as the paper's test protocol gives it), else "eval" (measured on
  edges2digits at batch 16, held-out pairs: eval mode 28.9 dB PSNR, per-image statistics
  26.0 dB)."""
  if mode not in INFERENCE_MODES:
    raise ValueError(f"unknown translate mode {mode!r}; valid: {', '.join(INFERENCE_MODES)}")
  if mode != "auto":
    return mode
  return "paper" if batch_size == 1 else "eval"


def translate(gan: GANDef, params, stats, x: jax.Array, key: jax.Array, *,
              mode: str = "paper", first_index=0, method: str | None = None) -> jax.Array:
  """G(x) for inference, x (N, H, W, C_in).

  "paper": the pix2pix test protocol (the authors' test.py at batch 1): each image is
  normalised by its own BatchNorm statistics and dropout stays on, its mask drawn from
  fold_in(key, first_index + i) for image i (so batching does not change an image's
  output). "eval": running statistics, no dropout. `method` picks one generator of a
  CycleGAN pair ("a_to_b", "b_to_a").
  """
  if mode == "eval":
    return g_apply(gan, params, stats, x, key, train=False, method=method)[0]
  if mode != "paper":
    raise ValueError(f"unknown translate mode {mode!r}; valid: paper, eval")
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first_index + jnp.arange(x.shape[0]))
  one = lambda xi, k: g_apply(gan, params, stats, xi[None], k, method=method)[0][0]
  return jax.vmap(one)(x, keys)
