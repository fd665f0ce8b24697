"""Pure train steps: (state, batch) -> (state, metrics). Parallelism wraps them (parallel.py).

The unconditional GAN step follows the DCGAN recipe (and the PyTorch tutorial): one
G forward on z, a D update on the real batch and the detached fakes (two D passes,
so BatchNorm sees real and fake batches apart), then a G update against the
*updated* D, back-propagated through the same G forward.

The same step covers the GAN zoo (GANDef fields): any loss of losses.GAN_LOSSES, a
penalty on D (WGAN-GP, R1, R2), `n_critic` D updates per G update, class-conditional
G and D (projection or AC-GAN), DiffAugment before D, and an EMA of G's parameters.
With n_critic > 1 the batch holds n_critic * B examples: D update k uses examples
k, k + n, k + 2n, ... (an interleaving that gives every device count the same split),
and the G update reuses the last D update's G forward.
"""

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses
from jaxgan.train.state import GANDef, GANState, NetState

# fold_in offsets of the per-step random streams besides z (z of D update k uses k).
PENALTY_STREAM = 1 << 16
LABEL_STREAM = 2 << 16
AUGMENT_STREAM = 3 << 16


def sample_latents(key: jax.Array, batch_size: int, latent_dim: int) -> jax.Array:
  """z ~ N(0, I), (batch_size, latent_dim) float32."""
  return jax.random.normal(key, (batch_size, latent_dim), jnp.float32)


def draw_global(key: jax.Array, local_n: int, draw, axis_name: str | None = None):
  """draw(key, n) for the global batch, sliced to this device's `local_n` examples.

  Every per-example random quantity is drawn for the whole global batch and each pmap
  device takes its slice, so an example's randomness does not depend on the device
  count (the draws are tiny next to the networks)."""
  if not axis_name:
    return draw(key, local_n)
  num_devices = jax.lax.psum(1, axis_name)
  start = jax.lax.axis_index(axis_name) * local_n
  return jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, local_n),
                      draw(key, local_n * num_devices))


def step_latents(state: GANState, batch_size: int, latent_dim: int,
                 axis_name: str | None = None) -> jax.Array:
  """This step's z for the local batch, drawn from fold_in(rng, step) (see draw_global)."""
  key = jax.random.fold_in(state.rng, state.step)
  return draw_global(key, batch_size, lambda k, n: sample_latents(k, n, latent_dim), axis_name)


def _apply_updates(net: NetState, grads, tx, batch_stats) -> NetState:
  updates, opt_state = tx.update(grads, net.opt_state, net.params)
  return NetState(params=optax.apply_updates(net.params, updates), batch_stats=batch_stats,
                  opt_state=opt_state)


def _mean(x: jax.Array, axis_name: str | None) -> jax.Array:
  x = jnp.mean(x)
  return jax.lax.pmean(x, axis_name) if axis_name else x


def _critic_chunks(x: jax.Array, n: int) -> jax.Array:
  """(n * B, ...) -> (n, B, ...): chunk k holds rows k, k + n, k + 2n, ..."""
  return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)


def _labels_kw(gan: GANDef, labels):
  return {"labels": labels} if gan.num_classes else {}


def _g_apply(gan: GANDef, params, stats, z, labels):
  """Train-mode G forward: (images, new batch_stats)."""
  out, m = gan.generator.apply({"params": params, "batch_stats": stats}, z, train=True,
                               mutable=["batch_stats"], **_labels_kw(gan, labels))
  return out, m["batch_stats"]


def _d_apply(gan: GANDef, params, stats, x, labels, aug_params=None):
  """Train-mode D forward on (augmented) x: (logits (B,), class logits or None, batch_stats)."""
  if gan.augment is not None:
    x = gan.augment.apply(x, aug_params)
  out, m = gan.discriminator.apply({"params": params, "batch_stats": stats}, x, train=True,
                                   mutable=["batch_stats"], **_labels_kw(gan, labels))
  logits, aux = out if isinstance(out, tuple) else (out, None)
  return logits, aux, m["batch_stats"]


def _loss_kw(loss, axis_name):
  return {"axis_name": axis_name} if losses.batch_coupled(loss) else {}


def _class_loss(class_logits, labels) -> jax.Array:
  """AC-GAN's auxiliary classifier cross-entropy, per example."""
  return optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)


def _penalty(gan: GANDef, params, stats, real, fake, real_labels, fake_labels, key, axis_name):
  """The D penalty (per example, weight applied) on eval-mode D: examples must not
  interact, and the penalty pass must not advance D's statistics."""
  def d_fn(labels):
    kw = _labels_kw(gan, labels)
    def f(x):
      out = gan.discriminator.apply({"params": params, "batch_stats": stats}, x, train=False, **kw)
      return out[0] if isinstance(out, tuple) else out
    return f

  fake = jax.lax.stop_gradient(fake)
  if gan.penalty == "gp":
    eps = draw_global(key, real.shape[0], lambda k, n: jax.random.uniform(k, (n,)), axis_name)
    return gan.penalty_weight * losses.gradient_penalty(d_fn(real_labels), real, fake, eps)
  if gan.penalty == "r1":
    return 0.5 * gan.penalty_weight * losses.r1_penalty(d_fn(real_labels), real)
  if gan.penalty == "r2":
    return 0.5 * gan.penalty_weight * losses.r2_penalty(d_fn(fake_labels), fake)
  raise ValueError(f"unknown penalty {gan.penalty!r}")


def _draws(gan: GANDef, key: jax.Array, k: int, n: int, axis_name):
  """(z, fake labels or None, augmentation params of real and fake) of D update k."""
  z_key = key if k == 0 else jax.random.fold_in(key, k)  # k = 0: the plain step's z
  z = draw_global(z_key, n, lambda kk, m: sample_latents(kk, m, gan.latent_dim), axis_name)
  labels = None
  if gan.num_classes:
    labels = draw_global(jax.random.fold_in(key, LABEL_STREAM + k), n,
                         lambda kk, m: jax.random.randint(kk, (m,), 0, gan.num_classes),
                         axis_name)
  aug = (None, None)
  if gan.augment is not None:
    rk, fk = jax.random.split(jax.random.fold_in(key, AUGMENT_STREAM + k))
    aug = tuple(draw_global(kk, n, gan.augment.sample, axis_name) for kk in (rk, fk))
  return z, labels, aug


def _d_update(gan: GANDef, d: NetState, real, fake, real_labels, fake_labels, aug, key,
              axis_name):
  """One D update on a real batch and (detached) fakes: (new D, grads, metrics)."""
  def loss_fn(params):
    real_logits, real_aux, stats = _d_apply(gan, params, d.batch_stats, real, real_labels, aug[0])
    fake_logits, fake_aux, stats = _d_apply(gan, params, stats, jax.lax.stop_gradient(fake),
                                            fake_labels, aug[1])
    adv = jnp.mean(gan.d_loss(real_logits, fake_logits, **_loss_kw(gan.d_loss, axis_name)))
    extra = {}
    total = adv
    if gan.penalty != "none":
      extra["d_penalty"] = jnp.mean(_penalty(gan, params, d.batch_stats, real, fake, real_labels,
                                             fake_labels, key, axis_name))
      total = total + extra["d_penalty"]
    if real_aux is not None:
      extra["d_class_loss"] = jnp.mean(_class_loss(real_aux, real_labels)
                                       + _class_loss(fake_aux, fake_labels))
      total = total + gan.ac_weight * extra["d_class_loss"]
    return total, (stats, adv, real_logits, fake_logits, extra)

  (_, (stats, adv, real_logits, fake_logits, extra)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(d.params)
  if axis_name:
    grads = jax.lax.pmean(grads, axis_name)
  metrics = dict(d_loss=adv, d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                 d_fake_before=jnp.mean(jax.nn.sigmoid(fake_logits)), **extra)
  return _apply_updates(d, grads, gan.d_tx, stats), grads, metrics


def gan_train_step(state: GANState, batch: dict, *, gan: GANDef,
                   axis_name: str | None = None) -> tuple[GANState, dict]:
  """`gan.n_critic` D updates, then one G update.

  Args:
    state: the training state.
    batch: {'image': float (n_critic * B, ...) in [-1, 1], 'label': int (n_critic * B,)
      for conditional GANs}; the global batch under sharded jit, the per-device batch
      under pmap. Images are (H, W, C); 2-D toy points are (2,).
    gan: modules, optimizers, losses and step options.
    axis_name: the pmap axis to average gradients and metrics over; None under jit.
  Returns:
    (new state, metrics): losses, mean sigmoid(D(x)), sigmoid(D(G(z))) before and after
    the D update, penalty and class losses when used, gradient and parameter norms.
  """
  if gan.stylegan2 is not None:  # its own phases (imported here: it builds on this module)
    from jaxgan.train.stylegan2_step import stylegan2_train_step
    return stylegan2_train_step(state, batch, gan=gan, axis_name=axis_name)
  if gan.translation is not None:  # paired image-to-image translation (pix2pix)
    from jaxgan.train.translation_step import translation_train_step
    return translation_train_step(state, batch, gan=gan, axis_name=axis_name)
  if gan.cycle is not None:  # unpaired translation (CycleGAN)
    from jaxgan.train.cycle_step import cycle_train_step
    return cycle_train_step(state, batch, gan=gan, axis_name=axis_name)
  if gan.superres is not None:  # super-resolution (SRGAN, ESRGAN)
    from jaxgan.train.superres_step import superres_train_step
    return superres_train_step(state, batch, gan=gan, axis_name=axis_name)
  if gan.inpaint is not None:  # inpainting (DeepFill v2); holes drawn here unless given
    from jaxgan.train.inpaint_step import inpaint_train_step, with_masks
    batch = with_masks(state, batch, gan.inpaint, axis_name)
    return inpaint_train_step(state, batch, gan=gan, axis_name=axis_name)
  real = batch["image"]
  if gan.grad_accum_steps > 1:
    z = step_latents(state, real.shape[0], gan.latent_dim, axis_name)
    return _accumulated_step(state, real, z, gan=gan, axis_name=axis_name)
  n = gan.n_critic
  B = real.shape[0] // n
  reals = _critic_chunks(real, n)                                       # (n, B, ...)
  real_labels = _critic_chunks(batch["label"], n) if gan.num_classes else [None] * n
  key = jax.random.fold_in(state.rng, state.step)

  d, g_stats, d_metrics = state.d, state.g.batch_stats, []
  for k in range(n):  # unrolled: n_critic is small, and the last update differs
    z, fake_labels, aug = _draws(gan, key, k, B, axis_name)
    if k < n - 1:
      fake, g_stats = _g_apply(gan, state.g.params, g_stats, z, fake_labels)
    else:  # keep the VJP of this G forward for the G update
      fake, g_pullback, g_stats = jax.vjp(
          lambda p: _g_apply(gan, p, g_stats, z, fake_labels), state.g.params, has_aux=True)
    d, d_grads, m = _d_update(gan, d, reals[k], fake, real_labels[k], fake_labels, aug,
                              jax.random.fold_in(key, PENALTY_STREAM + k), axis_name)
    d_metrics.append(m)
  d_new = d

  # --- G update against the updated D, through the last G forward (its VJP).
  def g_loss_wrt_fake(fake_images):
    logits, aux, stats = _d_apply(gan, d_new.params, d_new.batch_stats, fake_images,
                                  fake_labels, aug[1])
    real_logits = None
    if losses.needs_real_logits(gan.g_loss):
      real_logits, _, stats = _d_apply(gan, d_new.params, stats, reals[-1], real_labels[-1],
                                       aug[0])
    loss = jnp.mean(gan.g_loss(logits, real_logits, **_loss_kw(gan.g_loss, axis_name)))
    total = loss
    if aux is not None:
      total = total + gan.ac_weight * jnp.mean(_class_loss(aux, fake_labels))
    return total, (stats, logits, loss)

  (_, (d_batch_stats, fake_logits_after, g_loss)), d_fake = jax.value_and_grad(
      g_loss_wrt_fake, has_aux=True)(fake)
  (g_grads,) = g_pullback(d_fake)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_stats)
  d_new = d_new.replace(batch_stats=d_batch_stats)  # D's statistics also saw this pass

  values = {k: jnp.mean(jnp.stack([m[k] for m in d_metrics])) for k in ("d_loss",) + tuple(
      k for k in d_metrics[0] if k.startswith(("d_penalty", "d_class")))}
  values.update(d_real=d_metrics[-1]["d_real"], d_fake_before=d_metrics[-1]["d_fake_before"])
  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay, g_loss=g_loss,
                 d_fake_after=jnp.mean(jax.nn.sigmoid(fake_logits_after)), **values)


def _finish(state, g_new, d_new, d_grads, g_grads, axis_name, *, skip_nonfinite=False,
            ema_decay=0.0, **values):
  """The new state and the step's metrics (averaged over the pmap axis).

  With `ema_decay` > 0 (a float, or a traced scalar) the EMA of G's parameters moves towards the new ones.
  With `skip_nonfinite`, a step whose losses, gradients or new parameters are not all
  finite keeps the old networks, EMA and optimizer states (the step counter still
  advances, so the data and noise move on) and reports skipped=1. Every quantity tested
  is already averaged over devices, so all devices take the same branch.
  """
  metrics = {k: _mean(v, axis_name) for k, v in values.items()}
  metrics.update({
      "d_grad_norm": optax.global_norm(d_grads),
      "g_grad_norm": optax.global_norm(g_grads),
      "d_param_norm": optax.global_norm(d_new.params),
      "g_param_norm": optax.global_norm(g_new.params),
  })
  g_ema = state.g_ema
  if isinstance(ema_decay, jax.Array) or ema_decay > 0:  # a traced decay: StyleGAN2's ramp-up
    g_ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, state.g_ema,
                         g_new.params)
  if skip_nonfinite:
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
    keep_new = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    g_new, d_new = keep_new(g_new, state.g), keep_new(d_new, state.d)
    g_ema = keep_new(g_ema, state.g_ema)
    metrics["skipped"] = 1.0 - finite.astype(jnp.float32)
  return state.replace(step=state.step + 1, g=g_new, d=d_new, g_ema=g_ema), metrics


def _accumulated_step(state: GANState, real: jax.Array, z: jax.Array, *, gan: GANDef,
                      axis_name: str | None) -> tuple[GANState, dict]:
  """The same D-then-G update with gradients summed over `grad_accum_steps` micro-batches,
  scanned so only one micro-batch's activations live at a time. Equal to the one big
  batch for networks without batch statistics; with BatchNorm each micro-batch is
  normalised on its own statistics (as on separate devices without synchronisation)."""
  n = gan.grad_accum_steps
  G, D = gan.generator, gan.discriminator
  micro = lambda x: x.reshape(n, x.shape[0] // n, *x.shape[1:])
  zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)

  def d_micro(carry, xs):
    g_stats, d_stats, acc = carry
    real_i, z_i = xs
    fake, g_mut = G.apply({"params": state.g.params, "batch_stats": g_stats}, z_i, train=True,
                          mutable=["batch_stats"])

    def loss_fn(d_params):
      rl, m = D.apply({"params": d_params, "batch_stats": d_stats}, real_i, train=True,
                      mutable=["batch_stats"])
      fl, m = D.apply({"params": d_params, "batch_stats": m["batch_stats"]}, fake, train=True,
                      mutable=["batch_stats"])
      return jnp.mean(gan.d_loss(rl, fl)), (m["batch_stats"], rl, fl)

    (loss, (d_stats, rl, fl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d.params)
    acc = jax.tree.map(lambda a, g: a + g / n, acc, grads)
    out = (loss, jnp.mean(jax.nn.sigmoid(rl)), jnp.mean(jax.nn.sigmoid(fl)))
    return (g_mut["batch_stats"], d_stats, acc), out

  (g_stats, d_stats, d_grads), (d_losses, d_real, d_fake) = jax.lax.scan(
      d_micro, (state.g.batch_stats, state.d.batch_stats, zeros(state.d.params)),
      (micro(real), micro(z)))
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(state.d, d_grads, gan.d_tx, d_stats)

  def g_micro(carry, z_i):
    d_stats, acc = carry

    def loss_fn(g_params):
      # Train-mode BatchNorm normalises with batch statistics, so G's output does not
      # depend on its running statistics; those were updated in the D phase already.
      fake, _ = G.apply({"params": g_params, "batch_stats": state.g.batch_stats}, z_i,
                        train=True, mutable=["batch_stats"])
      logits, m = D.apply({"params": d_new.params, "batch_stats": d_stats}, fake, train=True,
                          mutable=["batch_stats"])
      return jnp.mean(gan.g_loss(logits)), (m["batch_stats"], logits)

    (loss, (d_stats, logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g.params)
    acc = jax.tree.map(lambda a, g: a + g / n, acc, grads)
    return (d_stats, acc), (loss, jnp.mean(jax.nn.sigmoid(logits)))

  (d_stats, g_grads), (g_losses, d_fake_after) = jax.lax.scan(
      g_micro, (d_new.batch_stats, zeros(state.g.params)), micro(z))
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_stats)
  d_new = d_new.replace(batch_stats=d_stats)
  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                 d_loss=jnp.mean(d_losses),
                 g_loss=jnp.mean(g_losses), d_real=jnp.mean(d_real),
                 d_fake_before=jnp.mean(d_fake), d_fake_after=jnp.mean(d_fake_after))
