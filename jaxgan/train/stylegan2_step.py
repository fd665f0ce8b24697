"""The StyleGAN2 train step (Karras et al. 2020; phases as NVIDIA's stylegan2-ada-pytorch).

One compiled function per minibatch runs the four phases in order, each with its own z:
  G main  non-saturating loss through D (style mixing, per-pixel noise);
  G reg   path-length penalty on batch // pl_batch_shrink, every `pl_interval` steps;
  D main  logistic loss on reals and on fakes of the updated G;
  D reg   R1 on reals (gamma / 2 ||grad D||^2), every `r1_interval` steps.
A reg phase is its own optimizer update with the penalty weighted by its interval (lazy
regularisation); `jax.lax.cond` on step % interval picks it without recompiling. The
Adam corrections for the extra updates (lr * c, beta ** c, c = k / (k + 1)) are made by
jaxgan.train.build. The path-length mean lives in state.extras["pl_mean"].

With `augment_pipe` set, every image D sees goes through ADA's pipeline (jaxgan.ada),
freshly drawn for each D evaluation (G main's fakes, D main's reals and fakes, R1's
reals, whose gradient is taken through it) at probability state.extras["ada_p"]. With
`ada_target` > 0, the signs of D's real logits are summed in extras (D main's and, on R1
steps, R1's, as NVIDIA's), and every `ada_interval` steps p moves by batch * interval /
(ada_kimg * 1000) towards E[sign(D(real))] = ada_target.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan import ada, losses
from jaxgan.train.state import GANDef, GANState
from jaxgan.train.steps import _apply_updates, _finish, draw_global

# fold_in offsets of the phases' random streams (under fold_in(rng, step)).
G_MAIN_STREAM, G_REG_STREAM, D_MAIN_STREAM, PL_NOISE_STREAM = 0, 1, 2, 3
AUG_G_MAIN_STREAM, AUG_REAL_STREAM, AUG_FAKE_STREAM, AUG_R1_STREAM = 4, 5, 6, 7


@dataclasses.dataclass(frozen=True)
class StyleGAN2Options:
  """The StyleGAN2 step's hyper-parameters (static; from the config's `stylegan2` group)."""
  r1_gamma: float = 10.0      # R1 weight gamma (the term is gamma / 2 ||grad||^2)
  r1_interval: int = 16       # D reg every this many steps; 0: no R1
  pl_weight: float = 2.0      # path-length penalty weight
  pl_interval: int = 4        # G reg every this many steps; 0: no path-length penalty
  pl_decay: float = 0.01      # running path-length mean's decay
  pl_batch_shrink: int = 2    # G reg uses batch // pl_batch_shrink examples
  mixing_prob: float = 0.9    # style mixing probability per example
  ema_kimg: float = 0.0       # G EMA half-life in thousands of images (0: GANDef.ema_decay)
  ema_rampup: float = 0.0     # > 0: the half-life is at most ema_rampup * images seen
  augment_pipe: str = ""      # ADA pipeline (jaxgan.ada.PIPES, e.g. "bgc"); "": none
  augment_p: float = 0.0      # initial augmentation probability
  ada_target: float = 0.0     # target of E[sign(D(real))]; 0: p stays augment_p
  ada_interval: int = 4       # p is adjusted every this many steps
  ada_kimg: float = 500.0     # thousands of images for p to move by 1

  @property
  def ada(self) -> bool:
    """Whether p adapts (its statistics are kept in the state's extras)."""
    return bool(self.augment_pipe) and self.ada_target > 0


def init_ada_extras(o: StyleGAN2Options) -> dict:
  """The state's ADA entries: p, and where p adapts the current interval's sum of
  real-logit signs and number of reals."""
  if not o.augment_pipe:
    return {}
  extras = {"ada_p": jnp.asarray(o.augment_p, jnp.float32)}
  if o.ada:
    extras["ada_signs"] = extras["ada_count"] = jnp.zeros((), jnp.float32)
  return extras


def _lazy(step, interval: int) -> jax.Array:
  return jnp.logical_and(interval > 0, step % max(interval, 1) == 0)


def _g_inputs(gan: GANDef, key, n: int, axis_name):
  """(z, mix_z or None, mix_cutoff or None, noise keys) for n examples of the global batch."""
  G, prob = gan.generator, gan.stylegan2.mixing_prob

  def draw(k, m):
    kz, kmix, kcut, kprob, knoise = jax.random.split(k, 5)
    z = jax.random.normal(kz, (m, G.latent_dim), jnp.float32)
    mix_z = jax.random.normal(kmix, (m, G.latent_dim), jnp.float32)
    cutoff = jax.random.randint(kcut, (m,), 1, G.num_ws)
    cutoff = jnp.where(jax.random.uniform(kprob, (m,)) < prob, cutoff, G.num_ws)
    return z, mix_z, cutoff, jax.random.split(knoise, m)

  z, mix_z, cutoff, noise_keys = draw_global(key, n, draw, axis_name)
  if prob <= 0:
    mix_z = cutoff = None
  return z, mix_z, cutoff, noise_keys


def _g_images(gan: GANDef, params, stats, inputs):
  """Train-mode G forward: (images, new batch_stats (w_avg))."""
  z, mix_z, cutoff, noise_keys = inputs
  img, m = gan.generator.apply({"params": params, "batch_stats": stats}, z, train=True,
                               noise_keys=noise_keys, mix_z=mix_z, mix_cutoff=cutoff,
                               mutable=["batch_stats"])
  return img, m["batch_stats"]


def _pipe(gan: GANDef) -> ada.AugmentPipe | None:
  name = gan.stylegan2.augment_pipe
  return ada.AugmentPipe.from_name(name) if name else None


def _d_logits(gan: GANDef, params, x, aug=None):
  """D(x), through ADA's pipeline with the drawn values `aug` (None: no augmentation)."""
  if aug is not None:
    x = _pipe(gan).apply(x, aug)
  return gan.discriminator.apply({"params": params}, x, train=True)


def _aug_draw(gan: GANDef, key, stream: int, n: int, p, axis_name):
  """ADA values for n examples of the global batch from stream `stream` (None: no ADA)."""
  pipe = _pipe(gan)
  if pipe is None:
    return None
  return draw_global(jax.random.fold_in(key, stream), n, lambda k, m: pipe.sample(k, m, p),
                     axis_name)


def _pmean(tree, axis_name):
  return jax.lax.pmean(tree, axis_name) if axis_name else tree


def _path_length_update(gan: GANDef, g, pl_mean, key, n: int, image_shape, axis_name):
  """The G reg phase: (new G, new pl_mean, mean penalty)."""
  o = gan.stylegan2
  inputs = _g_inputs(gan, jax.random.fold_in(key, G_REG_STREAM), n, axis_name)
  h, w = image_shape[:2]
  noise = draw_global(jax.random.fold_in(key, PL_NOISE_STREAM), n,
                      lambda k, m: jax.random.normal(k, (m, *image_shape)) / (h * w) ** 0.5,
                      axis_name)
  z, mix_z, cutoff, noise_keys = inputs
  G = gan.generator

  def loss_fn(params):
    ws, m = G.apply({"params": params, "batch_stats": g.batch_stats}, z, True, mix_z, cutoff,
                    method="map", mutable=["batch_stats"])
    synth = lambda v: G.apply({"params": params, "batch_stats": g.batch_stats}, v, noise_keys,
                              method="synthesize")
    lengths = losses.path_lengths(losses.path_length_grads(synth, ws, noise))
    batch_mean = jnp.mean(lengths)
    if axis_name:  # the global batch's mean; its gradient stays per device
      batch_mean = batch_mean + jax.lax.stop_gradient(jax.lax.pmean(batch_mean, axis_name)
                                                      - batch_mean)
    penalty, new_mean = losses.path_length_penalty(lengths, pl_mean, o.pl_decay, batch_mean)
    total = jnp.mean(penalty) * o.pl_weight * o.pl_interval
    return total, (m["batch_stats"], new_mean, jnp.mean(penalty))

  (_, (stats, new_mean, penalty)), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
  g = _apply_updates(g, _pmean(grads, axis_name), gan.g_tx, _pmean(stats, axis_name))
  return g, jax.lax.stop_gradient(new_mean), penalty


def _r1_update(gan: GANDef, d, real, aug, axis_name):
  """The D reg phase: (new D, mean ||grad D(x)||^2, sum of sign(D(x)) over the local
  reals), the gradient taken at the reals before augmentation `aug`. The logits are the
  ones the gradient is taken through (ADA counts their signs, as NVIDIA's R1 phase)."""
  o = gan.stylegan2

  def loss_fn(params):
    per_example, logits = losses.r1_penalty_and_logits(
        lambda x: _d_logits(gan, params, x, aug), real)
    r1 = jnp.mean(per_example)
    return r1 * (0.5 * o.r1_gamma) * o.r1_interval, (r1, jnp.sum(jnp.sign(logits)))

  (_, (r1, signs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
  d = _apply_updates(d, _pmean(grads, axis_name), gan.d_tx, d.batch_stats)
  return d, r1, jax.lax.stop_gradient(signs)


def _ema_decay(gan: GANDef, step, global_batch: int):
  """The EMA decay of this step: 0.5 ** (batch / half-life in images), the half-life capped
  at ema_rampup * images seen so far (NVIDIA's ramp-up); else GANDef.ema_decay."""
  o = gan.stylegan2
  if not (o.ema_kimg > 0 and o.ema_rampup > 0):
    return gan.ema_decay
  nimg = jnp.minimum(o.ema_kimg * 1000.0, step.astype(jnp.float32) * global_batch * o.ema_rampup)
  return 0.5 ** (global_batch / jnp.maximum(nimg, 1e-8))


def stylegan2_train_step(state: GANState, batch: dict, *, gan: GANDef,
                         axis_name: str | None = None) -> tuple[GANState, dict]:
  """G main, G reg (lazy), D main, D reg (lazy): see the module docstring.

  Args:
    state: the training state (extras["pl_mean"] holds the path-length mean).
    batch: {'image': float (B, H, W, C) in [-1, 1]}; global under sharded jit, per device
      under pmap.
    gan: modules, optimizers, losses and `stylegan2` options.
    axis_name: the pmap axis; None under jit.
  Returns:
    (new state, metrics): d_loss, g_loss, d_real, d_fake_before, r1_penalty and pl_penalty
    (0 on steps without them), r1_applied and pl_applied (1 or 0), pl_mean, norms; with
    ADA also ada_p (this step's p), d_real_sign (mean sign of D main's real logits) and
    d_real_sign_r1 (R1's, 0 on steps without R1).
  """
  o = gan.stylegan2
  real = batch["image"]
  n = real.shape[0]
  key = jax.random.fold_in(state.rng, state.step)
  pl_mean = state.extras["pl_mean"]
  p = state.extras.get("ada_p")
  aug = lambda stream: _aug_draw(gan, key, stream, n, p, axis_name)

  # --- G main.
  def g_loss_fn(params):
    img, stats = _g_images(gan, params, state.g.batch_stats,
                           _g_inputs(gan, jax.random.fold_in(key, G_MAIN_STREAM), n, axis_name))
    logits = _d_logits(gan, state.d.params, img, aug(AUG_G_MAIN_STREAM))
    return jnp.mean(gan.g_loss(logits)), stats

  (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g.params)
  g_grads = _pmean(g_grads, axis_name)
  g = _apply_updates(state.g, g_grads, gan.g_tx, _pmean(g_stats, axis_name))

  # --- G reg (lazy path-length penalty).
  do_pl = _lazy(state.step, o.pl_interval)
  if o.pl_interval > 0:
    g, pl_mean, pl_penalty = jax.lax.cond(
        do_pl,
        lambda g_: _path_length_update(gan, g_, pl_mean, key, n // o.pl_batch_shrink,
                                       real.shape[1:], axis_name),
        lambda g_: (g_, pl_mean, jnp.zeros((), jnp.float32)), g)
  else:
    pl_penalty = jnp.zeros((), jnp.float32)

  # --- D main, on fakes of the updated G.
  fake, g_stats = _g_images(gan, g.params, g.batch_stats,
                            _g_inputs(gan, jax.random.fold_in(key, D_MAIN_STREAM), n, axis_name))
  g = g.replace(batch_stats=_pmean(g_stats, axis_name))
  fake = jax.lax.stop_gradient(fake)

  real_aug, fake_aug = aug(AUG_REAL_STREAM), aug(AUG_FAKE_STREAM)

  def d_loss_fn(params):
    real_logits = _d_logits(gan, params, real, real_aug)
    fake_logits = _d_logits(gan, params, fake, fake_aug)
    return jnp.mean(gan.d_loss(real_logits, fake_logits)), (real_logits, fake_logits)

  (d_loss, (real_logits, fake_logits)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d.params)
  d_grads = _pmean(d_grads, axis_name)
  d = _apply_updates(state.d, d_grads, gan.d_tx, state.d.batch_stats)

  # --- D reg (lazy R1).
  do_r1 = _lazy(state.step, o.r1_interval)
  if o.r1_interval > 0:
    r1_aug = aug(AUG_R1_STREAM)
    zero = jnp.zeros((), jnp.float32)
    d, r1, r1_signs = jax.lax.cond(
        do_r1, lambda d_: _r1_update(gan, d_, real, r1_aug, axis_name),
        lambda d_: (d_, zero, zero), d)
  else:
    r1 = r1_signs = jnp.zeros((), jnp.float32)

  global_batch = n * (jax.lax.psum(1, axis_name) if axis_name else 1)
  new, metrics = _finish(state, g, d, d_grads, g_grads, axis_name,
                         skip_nonfinite=gan.skip_nonfinite,
                         ema_decay=_ema_decay(gan, state.step, global_batch),
                         d_loss=d_loss, g_loss=g_loss,
                         d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                         d_fake_before=jnp.mean(jax.nn.sigmoid(fake_logits)),
                         r1_penalty=r1, pl_penalty=pl_penalty)
  if gan.skip_nonfinite:  # a skipped step keeps its old path-length mean too
    pl_mean = jnp.where(metrics["skipped"] > 0, state.extras["pl_mean"], pl_mean)
  metrics.update(pl_mean=pl_mean, r1_applied=do_r1.astype(jnp.float32),
                 pl_applied=do_pl.astype(jnp.float32))
  extras = {**state.extras, "pl_mean": pl_mean}
  if o.augment_pipe:
    signs = jnp.stack([jnp.sum(jnp.sign(real_logits)), r1_signs])  # D main's, R1's
    signs = jax.lax.psum(signs, axis_name) if axis_name else signs
    metrics.update(ada_p=p, d_real_sign=signs[0] / global_batch,
                   d_real_sign_r1=signs[1] / global_batch)
    if o.ada:  # NVIDIA's statistic: every real logit of the interval, D main's and R1's
      reals = global_batch * (1.0 + do_r1.astype(jnp.float32))
      extras.update(_ada_update(o, state, signs[0] + signs[1], reals, global_batch,
                                metrics.get("skipped")))
  return new.replace(extras=extras), metrics


def _ada_update(o: StyleGAN2Options, state: GANState, signs, reals, global_batch, skipped):
  """The ADA entries after this step: the signs of `reals` real logits counted, and at
  the end of an interval p adjusted and the counts reset. A skipped (non-finite) step
  counts no signs. p moves by the interval's images, global_batch x ada_interval, as
  NVIDIA's (R1's reals are the same images again)."""
  e = state.extras
  if skipped is not None:
    signs = jnp.where(skipped > 0, 0.0, signs)
    reals = jnp.where(skipped > 0, 0.0, reals)
  total, count = e["ada_signs"] + signs, e["ada_count"] + reals
  due = (state.step + 1) % o.ada_interval == 0
  adjusted = ada.adjust_p(e["ada_p"], total / jnp.maximum(count, 1.0), target=o.ada_target,
                          images=global_batch * o.ada_interval, kimg=o.ada_kimg)
  adjusted = jnp.where(count > 0, adjusted, e["ada_p"])
  zero = jnp.zeros((), jnp.float32)
  return {"ada_p": jnp.where(due, adjusted, e["ada_p"]),
          "ada_signs": jnp.where(due, zero, total), "ada_count": jnp.where(due, zero, count)}
