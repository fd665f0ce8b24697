"""The unpaired translation step (CycleGAN, Zhu et al. 2017).

One compiled function, in the order of the authors' `optimize_parameters`: the forward
fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A) (and the
identity images G_A(B), G_B(A)); then ONE update of both generators against the current
discriminators,
    adv_weight * (L_G(D_A(fake_B)) + L_G(D_B(fake_A)))
    + lambda_a |rec_A - A|_1 + lambda_b |rec_B - B|_1
    + lambda_identity * (lambda_b |G_A(B) - B|_1 + lambda_a |G_B(A) - A|_1);
then ONE update of both discriminators, D_A on (B, fake_B) and D_B on (A, fake_A), where the
fakes come through a history of `pool_size` earlier fakes (Shrivastava et al. 2017): once
full, each new fake is, with probability 1/2, swapped for a stored one.

The authors' LSGAN uses MSE for G, our least_squares G loss carries Mao et al.'s 1/2: their
recipe is loss=least_squares with adv_weight=2 (experiments/cyclegan_horse2zebra.py).
The pool is state (GANState.extras), drawn for the global batch: the step does not depend on
the device count under sharded jit; under pmap every device would keep its own pool, so
build refuses a pool there.
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxgan.train.state import GANDef, GANState
from jaxgan.train.steps import _apply_updates, _finish

POOL_STREAM = 5 << 16     # fold_in offsets of this step's random streams
DROPOUT_STREAM = 6 << 16


@dataclasses.dataclass(frozen=True)
class CycleOptions:
  """Static options of the cycle step (config group `cycle`)."""
  lambda_a: float = 10.0          # cycle loss A -> B -> A
  lambda_b: float = 10.0          # cycle loss B -> A -> B
  lambda_identity: float = 0.5    # identity loss weight, relative to lambda_a / lambda_b
  adv_weight: float = 1.0         # on each generator's adversarial term
  pool_size: int = 50             # earlier fakes D sees (0: only the new ones)
  channels_a: int = 3             # domain A's channels (domain B's: config.channels)


def g_apply(gan: GANDef, params, stats, x, method: str, key, *, train: bool = True):
  """G_A (method "a_to_b") or G_B ("b_to_a") of x: (images, new batch_stats)."""
  out, m = gan.generator.apply({"params": params, "batch_stats": stats}, x, train=train,
                               method=method, mutable=["batch_stats"], rngs={"dropout": key})
  return out, m["batch_stats"]


def _d_apply(gan: GANDef, params, stats, x, method: str):
  out, m = gan.discriminator.apply({"params": params, "batch_stats": stats}, x, train=True,
                                   method=method, mutable=["batch_stats"])
  return out, m["batch_stats"]


def init_pools(o: CycleOptions, image_shape: tuple[int, ...]) -> dict:
  """Empty histories: pool_a of domain-A fakes, pool_b of domain-B fakes, and their fill."""
  if o.pool_size == 0:
    return {}
  hw = image_shape[:-1]
  return {"pool_a": jnp.zeros((o.pool_size, *hw, o.channels_a), jnp.float32),
          "pool_b": jnp.zeros((o.pool_size, *hw, image_shape[-1]), jnp.float32),
          "pool_count": jnp.zeros((), jnp.int32)}


def query_pool(pool: jax.Array, count: jax.Array, images: jax.Array, key: jax.Array):
  """The authors' ImagePool.query, image by image: (images D sees, new pool, new count).

  While the pool has room an image is stored and passed on; once full, with probability
  1/2 it replaces a uniformly chosen stored image, which is passed on instead."""
  size = pool.shape[0]

  def one(carry, xs):
    pool, count = carry
    image, k = xs
    k_swap, k_slot = jax.random.split(k)
    has_room = count < size
    swap = jnp.logical_and(~has_room, jax.random.uniform(k_swap) > 0.5)
    slot = jnp.where(has_room, count, jax.random.randint(k_slot, (), 0, size))
    stored = pool[slot]
    out = jnp.where(swap, stored, image)
    pool = jax.lax.cond(jnp.logical_or(has_room, swap),
                        lambda p: p.at[slot].set(image), lambda p: p, pool)
    return (pool, jnp.minimum(count + 1, size)), out

  keys = jax.random.split(key, images.shape[0])
  (pool, count), out = jax.lax.scan(one, (pool, count), (images, keys))
  return out, pool, count


def cycle_train_step(state: GANState, batch: dict, *, gan: GANDef,
                     axis_name: str | None = None) -> tuple[GANState, dict]:
  """One update of both generators, then one of both discriminators.

  Args:
    state: the training state; g holds {'g_a', 'g_b'}, d holds {'d_a', 'd_b'}, extras the
      fake pools when pool_size > 0.
    batch: {'input': domain A float (B, H, W, C_a), 'image': domain B float (B, H, W, C_b)},
      in [-1, 1], unpaired.
    gan: its `cycle` field holds the CycleOptions.
    axis_name: the pmap axis; None under sharded jit.
  """
  o = gan.cycle
  a, b = batch["input"], batch["image"]
  key = jax.random.fold_in(state.rng, state.step)
  d_key = jax.random.fold_in(key, DROPOUT_STREAM)
  if axis_name:
    d_key = jax.random.fold_in(d_key, jax.lax.axis_index(axis_name))
  keys = jax.random.split(d_key, 6)
  d_params, d_stats = state.d.params, state.d.batch_stats
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))

  def g_objective(params):
    s = state.g.batch_stats
    fake_b, s = g_apply(gan, params, s, a, "a_to_b", keys[0])
    rec_a, s = g_apply(gan, params, s, fake_b, "b_to_a", keys[1])
    fake_a, s = g_apply(gan, params, s, b, "b_to_a", keys[2])
    rec_b, s = g_apply(gan, params, s, fake_a, "a_to_b", keys[3])
    terms = {"cycle_a": o.lambda_a * l1(rec_a, a), "cycle_b": o.lambda_b * l1(rec_b, b)}
    if o.lambda_identity > 0:
      idt_a, s = g_apply(gan, params, s, b, "a_to_b", keys[4])
      idt_b, s = g_apply(gan, params, s, a, "b_to_a", keys[5])
      terms["idt_a"] = o.lambda_identity * o.lambda_b * l1(idt_a, b)
      terms["idt_b"] = o.lambda_identity * o.lambda_a * l1(idt_b, a)
    ds = d_stats
    logits_b, ds = _d_apply(gan, d_params, ds, fake_b, "judge_b")
    logits_a, ds = _d_apply(gan, d_params, ds, fake_a, "judge_a")
    terms["g_adv_a"] = o.adv_weight * jnp.mean(gan.g_loss(logits_b))
    terms["g_adv_b"] = o.adv_weight * jnp.mean(gan.g_loss(logits_a))
    return sum(terms.values()), (s, ds, fake_a, fake_b, terms)

  (g_loss, (g_stats, d_stats, fake_a, fake_b, g_terms)), g_grads = jax.value_and_grad(
      g_objective, has_aux=True)(state.g.params)
  if axis_name:
    g_grads = jax.lax.pmean(g_grads, axis_name)
  g_new = _apply_updates(state.g, g_grads, gan.g_tx, g_stats)

  extras = state.extras
  fake_a, fake_b = jax.lax.stop_gradient(fake_a), jax.lax.stop_gradient(fake_b)
  if o.pool_size > 0:
    ka, kb = jax.random.split(jax.random.fold_in(key, POOL_STREAM))
    count = extras["pool_count"]
    fake_b, pool_b, _ = query_pool(extras["pool_b"], count, fake_b, kb)
    fake_a, pool_a, count = query_pool(extras["pool_a"], count, fake_a, ka)
    extras = {"pool_a": pool_a, "pool_b": pool_b, "pool_count": count}

  def d_objective(params):
    ds = d_stats
    real_b, ds = _d_apply(gan, params, ds, b, "judge_b")
    fake_b_logits, ds = _d_apply(gan, params, ds, fake_b, "judge_b")
    real_a, ds = _d_apply(gan, params, ds, a, "judge_a")
    fake_a_logits, ds = _d_apply(gan, params, ds, fake_a, "judge_a")
    d_a = jnp.mean(gan.d_loss(real_b, fake_b_logits))
    d_b = jnp.mean(gan.d_loss(real_a, fake_a_logits))
    return d_a + d_b, (ds, d_a, d_b, real_b, fake_b_logits)

  (d_loss, (d_stats, d_a, d_b, real_b, fake_b_logits)), d_grads = jax.value_and_grad(
      d_objective, has_aux=True)(state.d.params)
  if axis_name:
    d_grads = jax.lax.pmean(d_grads, axis_name)
  d_new = _apply_updates(state.d, d_grads, gan.d_tx, d_stats)
  new, metrics = _finish(state, g_new, d_new, d_grads, g_grads, axis_name,
                         skip_nonfinite=gan.skip_nonfinite, ema_decay=gan.ema_decay,
                         g_loss=g_loss, d_loss=d_loss, d_a_loss=d_a, d_b_loss=d_b,
                         d_a_real=jnp.mean(real_b), d_a_fake=jnp.mean(fake_b_logits),
                         **g_terms)
  if gan.skip_nonfinite:  # a skipped step leaves the pools as they were too
    keep = metrics["skipped"] == 0
    extras = jax.tree.map(lambda n, old: jnp.where(keep, n, old), extras, state.extras)
  return new.replace(extras=extras), metrics
