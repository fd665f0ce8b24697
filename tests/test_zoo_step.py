"""The generalised step (n_critic, penalties, spectral norm, EMA, relativistic loss) under
both parallel modes, and its pieces against plain computations."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.data import toy2d
from jaxgan.train import build, parallel, steps
from jaxgan.train.state import init_state, sampling_params

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def toy_config(**overrides):
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "toy_ring.py"))
  small = {"model.g_width": "8", "model.d_width": "8", "model.g_depth": "2",
           "model.d_depth": "2", "batch_size": "16"}
  config_lib.apply_overrides(c, {**small, **{k: str(v) for k, v in overrides.items()}})
  return c


# Every new piece at once: 2 critic updates, WGAN-GP, spectral norm, EMA, a batch-coupled loss.
ZOO = dict(loss="relativistic_average", penalty="gp", penalty_weight=1.0, n_critic=2,
           ema_decay=0.9, **{"model.spectral_norm": "true"})


def _train(c, mode, num_devices, num_steps=3):
  gan = build.build_gan(c)
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)
  state = runner.init(functools.partial(init_state, gan, c.seed, build.image_shape(c)))
  metrics = []
  for s in range(num_steps):
    state, m = runner.step(state, {"image": toy2d.batch_for_step(c.dataset, 0, s, c.batch_size)})
    metrics.append(jax.device_get(runner.host_view(m)))
  return jax.device_get(runner.host_view(state)), metrics


@pytest.fixture(scope="module")
def zoo_single():
  return _train(toy_config(**ZOO), "sharded", 1)


@pytest.mark.parametrize("mode", ["sharded", "pmap"])
def test_zoo_step_eight_devices_equal_one(zoo_single, mode):
  state, metrics = _train(toy_config(**ZOO), mode, 8)
  ref, ref_metrics = zoo_single
  # Per tensor ||x_8 - x_1|| / ||x_1||, as in test_parallel.py (elementwise ratios are unfair:
  # Adam turns round-off-sized gradients of near-zero parameters into lr-sized steps).
  nets = lambda s: (s.g.params, s.d.params, s.d.batch_stats, s.g_ema)
  # D's output bias is skipped: neither the relativistic loss nor the penalty depends on it,
  # so its exact gradient is 0 and Adam moves it by amplified round-off alone.
  # (Skipped by name: a norm threshold would let it in whenever the lr exceeds ~3e-4.)
  pairs = [(x, y) for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(nets(state))[0],
                                          jax.tree.leaves(nets(ref)))
           if np.linalg.norm(y) > 1e-3 and "'logit']['bias'" not in jax.tree_util.keystr(path)]
  diff = max(float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in pairs)
  assert diff < 1e-4, diff
  for m, r in zip(metrics, ref_metrics):
    assert set(m) == set(r) and "d_penalty" in m
    for k in ("d_loss", "g_loss", "d_penalty"):
      np.testing.assert_allclose(m[k], r[k], rtol=2e-5, atol=1e-6)
  assert ref.g_ema and "sn_u" in jax.tree_util.keystr(jax.tree_util.tree_flatten_with_path(
      ref.d.batch_stats)[0][0][0])


def test_ema_follows_its_formula():
  c = toy_config(ema_decay=0.5)
  gan = build.build_gan(c)
  state = init_state(gan, 0, (2,))
  new, _ = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(
      state, {"image": toy2d.batch_for_step(c.dataset, 0, 0, c.batch_size)})
  for e, old, p in zip(jax.tree.leaves(new.g_ema), jax.tree.leaves(state.g.params),
                       jax.tree.leaves(new.g.params)):
    np.testing.assert_allclose(e, 0.5 * old + 0.5 * p, rtol=1e-6)
  assert sampling_params(new) is new.g_ema
  no_ema = init_state(build.build_gan(toy_config()), 0, (2,))
  assert no_ema.g_ema == {} and sampling_params(no_ema) is no_ema.g.params


def test_n_critic_updates_d_n_times_on_interleaved_chunks():
  """n_critic=2 equals two n_critic=1 D updates on examples 0, 2, 4.. then 1, 3, 5.."""
  c2 = toy_config(n_critic=2, loss="wasserstein")
  gan2 = build.build_gan(c2)
  state = init_state(gan2, 0, (2,))
  batch = toy2d.batch_for_step(c2.dataset, 0, 0, 16)
  new, _ = jax.jit(functools.partial(steps.gan_train_step, gan=gan2))(state, {"image": batch})
  # D alone, by hand: update 0 uses z of fold_in(rng, step), update 1 fold_in(that, 1).
  key = jax.random.fold_in(state.rng, state.step)
  d = state.d
  for k, chunk in enumerate((batch[0::2], batch[1::2])):
    z = steps.sample_latents(key if k == 0 else jax.random.fold_in(key, k), 8, gan2.latent_dim)
    fake = gan2.generator.apply({"params": state.g.params}, z)
    grads = jax.grad(lambda p: jnp.mean(
        gan2.discriminator.apply({"params": p}, fake) - gan2.discriminator.apply({"params": p},
                                                                                 chunk)))(d.params)
    upd, opt = gan2.d_tx.update(grads, d.opt_state, d.params)
    d = d.replace(params=jax.tree.map(lambda a, b: a + b, d.params, upd), opt_state=opt)
  for a, b in zip(jax.tree.leaves(new.d.params), jax.tree.leaves(d.params)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_weight_clipping_through_the_step():
  c = toy_config(loss="wasserstein", weight_clip=0.01)
  gan = build.build_gan(c)
  state = init_state(gan, 0, (2,))
  new, _ = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(
      state, {"image": toy2d.batch_for_step(c.dataset, 0, 0, c.batch_size)})
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(new.d.params)) <= 0.01 + 1e-7
