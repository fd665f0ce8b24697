"""Adversarial losses on discriminator logits, and the discriminator's penalties.

Every loss returns per-example values (unreduced); the caller takes the mean. The
logistic losses are written with log-sigmoid / softplus so that they stay finite for
any logit: log(sigmoid(l)) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l).

Signatures are uniform so the step can call any pair the same way:
  d_loss(real_logits, fake_logits) -> (B,)
  g_loss(fake_logits, real_logits=None) -> (B,)
The relativistic losses compare each logit with the batch mean of the other kind;
they take `axis_name` so that, under pmap, the mean is the global batch's.

Penalties take `d_fn`, a function images (B, ...) -> logits (B,) whose examples do not
interact (no train-mode BatchNorm), so the gradient of its sum is the per-example
input gradient.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from jaxgan.errors import UsageError

DFn = Callable[[jax.Array], jax.Array]


def _check_same_shape(a: jax.Array, b: jax.Array) -> None:
  if a.shape != b.shape:
    raise ValueError(f"real and fake logits must have the same shape, got {a.shape} and {b.shape}")


# --- Logistic (Goodfellow et al. 2014) --------------------------------------------------------


def minimax_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Goodfellow et al. (2014) D loss: -log D(x) - log(1 - D(G(z))), per example."""
  _check_same_shape(real_logits, fake_logits)
  return jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits)


def non_saturating_g_loss(fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
  """The "-log D trick" G loss: -log D(G(z)), per example."""
  del real_logits
  return jax.nn.softplus(-fake_logits)


def minimax_g_loss(fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
  """The saturating G loss of the minimax game: log(1 - D(G(z))), per example."""
  del real_logits
  return -jax.nn.softplus(fake_logits)


# --- Least squares (Mao et al. 2017, the a=0, b=c=1 coding) ------------------------------------


def least_squares_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """LSGAN D loss: ((D(x) - 1)^2 + D(G(z))^2) / 2, per example."""
  _check_same_shape(real_logits, fake_logits)
  return 0.5 * (jnp.square(real_logits - 1.0) + jnp.square(fake_logits))


def least_squares_g_loss(fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
  """LSGAN G loss: (D(G(z)) - 1)^2 / 2, per example."""
  del real_logits
  return 0.5 * jnp.square(fake_logits - 1.0)


# --- Wasserstein (Arjovsky et al. 2017) and hinge (Lim & Ye 2017; Miyato et al. 2018) ----------


def wasserstein_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """The critic's loss: D(G(z)) - D(x), per example (the negated Wasserstein estimate)."""
  _check_same_shape(real_logits, fake_logits)
  return fake_logits - real_logits


def wasserstein_g_loss(fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
  """-D(G(z)), per example (also the hinge GAN's G loss)."""
  del real_logits
  return -fake_logits


def hinge_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """max(0, 1 - D(x)) + max(0, 1 + D(G(z))), per example."""
  _check_same_shape(real_logits, fake_logits)
  return jax.nn.relu(1.0 - real_logits) + jax.nn.relu(1.0 + fake_logits)


# --- Relativistic average (Jolicoeur-Martineau 2019, RaSGAN) -----------------------------------


def _batch_mean(x: jax.Array, axis_name: str | None) -> jax.Array:
  m = jnp.mean(x)
  return jax.lax.pmean(m, axis_name) if axis_name else m


def relativistic_average_d_loss(real_logits: jax.Array, fake_logits: jax.Array, *,
                                axis_name: str | None = None) -> jax.Array:
  """-log sig(C(x) - E C(G(z))) - log(1 - sig(C(G(z)) - E C(x))), per example pair."""
  _check_same_shape(real_logits, fake_logits)
  real_rel = real_logits - _batch_mean(fake_logits, axis_name)
  fake_rel = fake_logits - _batch_mean(real_logits, axis_name)
  return jax.nn.softplus(-real_rel) + jax.nn.softplus(fake_rel)


def relativistic_average_g_loss(fake_logits: jax.Array, real_logits: jax.Array | None = None, *,
                                axis_name: str | None = None) -> jax.Array:
  """The D loss with the roles swapped: -log sig(C(G(z)) - E C(x)) - log(1 - sig(C(x) - E C(G(z))))."""
  if real_logits is None:
    raise ValueError("the relativistic G loss needs the real logits")
  return relativistic_average_d_loss(fake_logits, real_logits, axis_name=axis_name)


# Marks the G losses that read real logits (the step then runs D on the real batch in
# the G phase too) and the losses that average over the batch (they need `axis_name`).
relativistic_average_g_loss.needs_real_logits = True
relativistic_average_d_loss.batch_coupled = True
relativistic_average_g_loss.batch_coupled = True


def needs_real_logits(g_loss) -> bool:
  return getattr(g_loss, "needs_real_logits", False)


def batch_coupled(loss) -> bool:
  return getattr(loss, "batch_coupled", False)


# name -> (d_loss, g_loss); configs pick by name.
GAN_LOSSES = {
    "dcgan": (minimax_d_loss, non_saturating_g_loss),        # DCGAN, non-saturating G
    "non_saturating": (minimax_d_loss, non_saturating_g_loss),
    "minimax": (minimax_d_loss, minimax_g_loss),
    "least_squares": (least_squares_d_loss, least_squares_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
    "hinge": (hinge_d_loss, wasserstein_g_loss),
    "relativistic_average": (relativistic_average_d_loss, relativistic_average_g_loss),
}


def get_gan_loss(name: str):
  """Returns the (d_loss, g_loss) pair called `name`; a clear error lists the valid names."""
  try:
    return GAN_LOSSES[name]
  except KeyError:
    raise UsageError(f"unknown loss {name!r}; valid: {', '.join(sorted(GAN_LOSSES))}") from None


# --- Penalties on D ---------------------------------------------------------------------------


def _input_grads_and_logits(d_fn: DFn, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(per-example dD(x_i)/dx_i flattened to (B, features), the logits D(x) they are the
  gradients of): one forward serves both."""
  logits, pullback = jax.vjp(d_fn, x)
  (grads,) = pullback(jnp.ones_like(logits))
  return grads.reshape(x.shape[0], -1), logits


def _input_grads(d_fn: DFn, x: jax.Array) -> jax.Array:
  return _input_grads_and_logits(d_fn, x)[0]


def gradient_penalty(d_fn: DFn, real: jax.Array, fake: jax.Array, eps: jax.Array) -> jax.Array:
  """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)||_2 - 1)^2 per example.

  Args:
    d_fn: images (B, ...) -> logits (B,), examples independent.
    real, fake: (B, ...) batches.
    eps: (B,) mixing weights in [0, 1]; x_hat = eps * real + (1 - eps) * fake.
  Returns:
    (B,) penalties; the caller multiplies by lambda (10 in the paper) and averages.
  """
  _check_same_shape(real, fake)
  if eps.shape != real.shape[:1]:
    raise ValueError(f"eps must have shape {real.shape[:1]}, got {eps.shape}")
  e = eps.reshape(-1, *([1] * (real.ndim - 1))).astype(real.dtype)
  x_hat = e * real + (1.0 - e) * fake
  # sqrt(sum^2 + tiny): the norm's gradient stays finite where the input gradient is 0.
  norms = jnp.sqrt(jnp.sum(jnp.square(_input_grads(d_fn, x_hat)), axis=1) + 1e-12)
  return jnp.square(norms - 1.0)


def squared_grad_norm(d_fn: DFn, x: jax.Array) -> jax.Array:
  """||grad_x D(x)||^2 per example, (B,). R1 on real data, R2 on generated data
  (Mescheder et al. 2018); the regulariser adds gamma / 2 times its mean."""
  return jnp.sum(jnp.square(_input_grads(d_fn, x)), axis=1)


def r1_penalty(d_fn: DFn, real: jax.Array) -> jax.Array:
  """R1: ||grad D(x)||^2 on real data, per example."""
  return squared_grad_norm(d_fn, real)


def r1_penalty_and_logits(d_fn: DFn, real: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(R1 per example, the real logits it was taken through): StyleGAN2-ADA counts their
  signs."""
  grads, logits = _input_grads_and_logits(d_fn, real)
  return jnp.sum(jnp.square(grads), axis=1), logits


def r2_penalty(d_fn: DFn, fake: jax.Array) -> jax.Array:
  """R2: ||grad D(G(z))||^2 on generated data, per example."""
  return squared_grad_norm(d_fn, fake)


# name -> how its weight is applied; weights come from the config (penalty_weight).
PENALTIES = ("none", "gp", "r1", "r2")


def check_penalty(name: str) -> str:
  if name not in PENALTIES:
    raise UsageError(f"unknown penalty {name!r}; valid: {', '.join(PENALTIES)}")
  return name


# --- Path-length regularisation (StyleGAN2, Karras et al. 2020, sec. 3.2) ----------------------


def path_length_grads(synthesis_fn: Callable[[jax.Array], jax.Array], ws: jax.Array,
                      noise: jax.Array) -> jax.Array:
  """J_w^T y per example: the gradient of sum(g(ws) * noise) w.r.t. ws (B, num_ws, w_dim).

  `noise` ~ N(0, 1) / sqrt(H * W), shaped like the images (the paper's y)."""
  return jax.grad(lambda w: jnp.sum(synthesis_fn(w).astype(jnp.float32) * noise))(ws)


def path_lengths(ws_grads: jax.Array) -> jax.Array:
  """||J_w^T y||_2 per example, (B,): the squared norm over w's dims averaged over the
  num_ws copies of w, then the square root (as NVIDIA's implementation)."""
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(ws_grads), axis=2), axis=1))


def path_length_penalty(lengths: jax.Array, pl_mean: jax.Array, decay: float,
                        batch_mean: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """(||J^T y|| - a)^2 per example and the new running mean a (decayed towards the batch
  mean by `decay`; the penalty uses the new a). `batch_mean` overrides mean(lengths)
  (the global batch's, under pmap). Returns (penalty (B,), new pl_mean)."""
  mean = jnp.mean(lengths) if batch_mean is None else batch_mean
  new_mean = pl_mean + decay * (mean - pl_mean)
  return jnp.square(lengths - new_mean), new_mean
