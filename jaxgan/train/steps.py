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

  metrics = {
      "d_loss": _mean(d_loss, axis_name),
      "g_loss": _mean(g_loss, axis_name),
      "d_real": _mean(jax.nn.sigmoid(real_logits), axis_name),
      "d_fake_before": _mean(jax.nn.sigmoid(fake_logits), axis_name),
      "d_fake_after": _mean(jax.nn.sigmoid(fake_logits_after), axis_name),
      "d_grad_norm": optax.global_norm(d_grads),
      "g_grad_norm": optax.global_norm(g_grads),
      "d_param_norm": optax.global_norm(d_new.params),
      "g_param_norm": optax.global_norm(g_new.params),
  }
  new_state = state.replace(step=state.step + 1, g=g_new, d=d_new)
  return new_state, metrics
