"""Pure train steps: (state, batch) -> (state, metrics). Parallelism wraps them (parallel.py).

The unconditional GAN step follows the DCGAN recipe (and the PyTorch tutorial): one
G forward on z, a D update on the real batch and the detached fakes (two D passes,
so BatchNorm sees real and fake batches apart), then a G update against the
*updated* D, back-propagated through the same G forward.
"""

import jax
import jax.numpy as jnp
import optax

from jaxgan.train.state import GANDef, GANState, NetState


def sample_latents(key: jax.Array, batch_size: int, latent_dim: int) -> jax.Array:
  """z ~ N(0, I), (batch_size, latent_dim) float32."""
  return jax.random.normal(key, (batch_size, latent_dim), jnp.float32)


def step_latents(state: GANState, batch_size: int, latent_dim: int,
                 axis_name: str | None = None) -> jax.Array:
  """This step's z for the local batch. The global batch's z is drawn from
  fold_in(rng, step) and each pmap device takes its slice, so every example gets the
  same noise whatever the device count (tiny: batch x latent_dim floats)."""
  key = jax.random.fold_in(state.rng, state.step)
  if not axis_name:
    return sample_latents(key, batch_size, latent_dim)
  num_devices = jax.lax.psum(1, axis_name)
  z = sample_latents(key, batch_size * num_devices, latent_dim)
  return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(axis_name) * batch_size, batch_size)


def _apply_updates(net: NetState, grads, tx, batch_stats) -> NetState:
  updates, opt_state = tx.update(grads, net.opt_state, net.params)
  return NetState(params=optax.apply_updates(net.params, updates), batch_stats=batch_stats,
                  opt_state=opt_state)


def _mean(x: jax.Array, axis_name: str | None) -> jax.Array:
  x = jnp.mean(x)
  return jax.lax.pmean(x, axis_name) if axis_name else x


def gan_train_step(state: GANState, batch: dict, *, gan: GANDef,
                   axis_name: str | None = None) -> tuple[GANState, dict]:
  """One D update then one G update.

  Args:
    state: the training state.
    batch: {'image': float (B, H, W, C) in [-1, 1], ...}; B is the global batch under
      sharded jit, the per-device batch under pmap.
    gan: modules, optimizers and losses.
    axis_name: the pmap axis to average gradients and metrics over; None under jit.
  Returns:
    (new state, metrics): losses, mean D(x), mean D(G(z)) before and after the D update,
    gradient and parameter norms.
  """
  real = batch["image"]
  B = real.shape[0]
  z = step_latents(state, B, gan.latent_dim, axis_name)
  if gan.grad_accum_steps > 1:
    return _accumulated_step(state, real, z, gan=gan, axis_name=axis_name)
  G, D = gan.generator, gan.discriminator

  def g_forward(g_params):
    fake, mutated = G.apply({"params": g_params, "batch_stats": state.g.batch_stats}, z,
                            train=True, mutable=["batch_stats"])
    return fake, mutated["batch_stats"]

  fake, g_pullback, g_batch_stats = jax.vjp(g_forward, state.g.params, has_aux=True)

  # --- D update: real and fake batches in two passes, BatchNorm statistics threaded through.
  def d_loss_fn(d_params):
    real_logits, m = D.apply({"params": d_params, "batch_stats": state.d.batch_stats}, real,
                             train=True, mutable=["batch_stats"])
    fake_logits, m = D.apply({"params": d_params, "batch_stats": m["batch_stats"]},
                             jax.lax.stop_gradient(fake), train=True, mutable=["batch_stats"])
    loss = jnp.mean(gan.d_loss(real_logits, fake_logits))
    return loss, (m["batch_stats"], real_logits, fake_logits)

  (d_loss, (d_batch_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
      d_loss_fn, has_aux=True)(state.d.params)
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(state.d, d_grads, gan.d_tx, d_batch_stats)

  # --- G update against the updated D, through the same G forward (its VJP).
  def g_loss_wrt_fake(fake_images):
    logits, m = D.apply({"params": d_new.params, "batch_stats": d_new.batch_stats}, fake_images,
                        train=True, mutable=["batch_stats"])
    return jnp.mean(gan.g_loss(logits)), (m["batch_stats"], logits)

  (g_loss, (d_batch_stats, fake_logits_after)), d_fake = jax.value_and_grad(
      g_loss_wrt_fake, has_aux=True)(fake)
  (g_grads,) = g_pullback(d_fake)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_batch_stats)
  d_new = d_new.replace(batch_stats=d_batch_stats)  # D's statistics also saw this pass

  return _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                 skip_nonfinite=gan.skip_nonfinite, d_loss=d_loss, g_loss=g_loss,
                 d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                 d_fake_before=jnp.mean(jax.nn.sigmoid(fake_logits)),
                 d_fake_after=jnp.mean(jax.nn.sigmoid(fake_logits_after)))


def _finish(state, g_new, d_new, d_grads, g_grads, axis_name, *, skip_nonfinite=False,
            **values):
  """The new state and the step's metrics (averaged over the pmap axis).

  With `skip_nonfinite`, a step whose losses, gradients or new parameters are not all
  finite keeps the old networks and optimizer states (the step counter still advances,
  so the data and noise move on) and reports skipped=1. Every quantity tested is already
  averaged over devices, so all devices take the same branch.
  """
  metrics = {k: _mean(v, axis_name) for k, v in values.items()}
  metrics.update({
      "d_grad_norm": optax.global_norm(d_grads),
      "g_grad_norm": optax.global_norm(g_grads),
      "d_param_norm": optax.global_norm(d_new.params),
      "g_param_norm": optax.global_norm(g_new.params),
  })
  if skip_nonfinite:
    finite = jnp.all(jnp.stack([jnp.isfinite(v) for v in metrics.values()]))
    keep_new = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    g_new, d_new = keep_new(g_new, state.g), keep_new(d_new, state.d)
    metrics["skipped"] = 1.0 - finite.astype(jnp.float32)
  return state.replace(step=state.step + 1, g=g_new, d=d_new), metrics


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
                 skip_nonfinite=gan.skip_nonfinite, d_loss=jnp.mean(d_losses),
                 g_loss=jnp.mean(g_losses), d_real=jnp.mean(d_real),
                 d_fake_before=jnp.mean(d_fake), d_fake_after=jnp.mean(d_fake_after))
