"""CycleGAN: the fake pool, the cycle step's objectives recomputed by hand, device counts,
and config refusals. The networks and one step against the authors' PyTorch code are in
tests/test_cyclegan_torch.py (a stored fixture)."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.errors import UsageError
from jaxgan.train import build, parallel, steps
from jaxgan.train.cycle_step import query_pool
from jaxgan.train.state import init_state
from helpers import REPO, set_fields, translation_batch



def tiny(**overrides):
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "cyclegan_edges2digits.py"))
  c.image_size = c.load_size = 16
  c.model.update(dict(g_width=2, d_width=2, num_blocks=1, d_layers=1))
  c.batch_size = 8
  c.cycle.pool_size = 4
  return set_fields(c, overrides)


def test_pool_fills_then_swaps_half_the_time():
  """The authors' ImagePool: stored and passed on while there is room; then each new image
  is passed on as is, or swapped for a stored one that it replaces, with probability 1/2."""
  size, n = 5, 3
  pool, count = jnp.zeros((size, 1)), jnp.zeros((), jnp.int32)
  swaps, queries, key = 0, 0, jax.random.PRNGKey(0)
  query = jax.jit(query_pool)
  for step in range(40):
    new = jnp.arange(step * n, step * n + n, dtype=jnp.float32)[:, None] + 1.0  # unique ids
    out, pool2, count2 = query(pool, count, new, jax.random.fold_in(key, step))
    before, after = np.asarray(pool)[:, 0], np.asarray(pool2)[:, 0]
    if step == 0:  # room for all three: passed on and stored in order
      np.testing.assert_array_equal(out, new)
      np.testing.assert_array_equal(after[:3], new[:, 0])
    # Conservation: what was stored plus what came in = what is stored plus what went out.
    if int(count) == size:
      assert sorted(before.tolist() + new[:, 0].tolist()) == sorted(
          after.tolist() + np.asarray(out)[:, 0].tolist())
      swaps += int(np.sum(np.asarray(out)[:, 0] != np.asarray(new)[:, 0]))
      queries += n
    pool, count = pool2, count2
  assert int(count) == size
  assert 0.35 < swaps / queries < 0.65, swaps / queries


def test_step_computes_the_cyclegan_objectives():
  c = tiny(**{"cycle.pool_size": 0})
  gan = build.build_gan(c)
  state = init_state(gan, 0, build.image_shape(c))
  batch = translation_batch(c)
  new, m = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(state, batch)
  a, b = jnp.asarray(batch["input"]), jnp.asarray(batch["image"])
  G = lambda x, method: gan.generator.apply({"params": state.g.params}, x, method=method)
  D = lambda params, x, method: gan.discriminator.apply({"params": params}, x, method=method)
  l1 = lambda x, y: float(jnp.mean(jnp.abs(x - y)))
  fake_b, fake_a = G(a, "a_to_b"), G(b, "b_to_a")
  np.testing.assert_allclose(m["cycle_a"], 10 * l1(G(fake_b, "b_to_a"), a), rtol=1e-5)
  np.testing.assert_allclose(m["cycle_b"], 10 * l1(G(fake_a, "a_to_b"), b), rtol=1e-5)
  np.testing.assert_allclose(m["idt_a"], 0.5 * 10 * l1(G(b, "a_to_b"), b), rtol=1e-5)
  np.testing.assert_allclose(m["idt_b"], 0.5 * 10 * l1(G(a, "b_to_a"), a), rtol=1e-5)
  # The authors' MSE(D(fake), 1) for G (adv_weight 2 x our (D - 1)^2 / 2), against D before
  # its update; D's LSGAN objective against the fakes of the same forward.
  mse = lambda x, t: float(jnp.mean((x - t) ** 2))
  np.testing.assert_allclose(m["g_adv_a"], mse(D(state.d.params, fake_b, "judge_b"), 1), rtol=1e-5)
  np.testing.assert_allclose(m["g_adv_b"], mse(D(state.d.params, fake_a, "judge_a"), 1), rtol=1e-5)
  d_a = 0.5 * (mse(D(state.d.params, b, "judge_b"), 1) + mse(D(state.d.params, fake_b, "judge_b"), 0))
  d_b = 0.5 * (mse(D(state.d.params, a, "judge_a"), 1) + mse(D(state.d.params, fake_a, "judge_a"), 0))
  np.testing.assert_allclose(m["d_a_loss"], d_a, rtol=1e-5)
  np.testing.assert_allclose(m["d_loss"], d_a + d_b, rtol=1e-5)
  total = sum(float(m[k]) for k in ("cycle_a", "cycle_b", "idt_a", "idt_b", "g_adv_a", "g_adv_b"))
  np.testing.assert_allclose(m["g_loss"], total, rtol=1e-5)


def test_eight_devices_equal_one_with_the_pool():
  """The same run on 1 and 8 devices: metrics, pools, and the generators' outputs. (Not raw
  parameters: a conv bias before InstanceNorm has a gradient of exactly 0 in exact arithmetic,
  float noise in practice, and Adam turns noise of either sign into a +-lr step; such a bias
  changes no output.)"""
  c = tiny()
  gan = build.build_gan(c)
  state = jax.device_get(init_state(gan, 0, build.image_shape(c)))
  batches = [translation_batch(c, s) for s in range(3)]  # the pool (4) fills and starts swapping
  probe = jnp.asarray(translation_batch(c, 9)["input"])
  runs = []
  for n in (1, 8):
    mesh = parallel.make_mesh(jax.devices()[:n])
    runner = parallel.make_parallel("sharded", functools.partial(steps.gan_train_step, gan=gan),
                                    mesh)
    s, metrics = runner.from_checkpoint(state), []
    for b in batches:
      s, m = runner.step(s, b)
      metrics.append(jax.device_get(m))
    s = jax.device_get(runner.to_checkpoint(s))
    out = gan.generator.apply({"params": s.g.params}, probe, method="a_to_b")
    runs.append((metrics, s.extras, np.asarray(out)))
  (m1, pools1, out1), (m8, pools8, out8) = runs
  assert int(pools1["pool_count"]) == 4
  for step_1, step_8 in zip(m1, m8):
    for k in step_1:
      np.testing.assert_allclose(step_1[k], step_8[k], rtol=1e-3, atol=1e-5, err_msg=k)
  for k in ("pool_a", "pool_b"):
    np.testing.assert_allclose(pools1[k], pools8[k], atol=1e-5, err_msg=k)
  np.testing.assert_allclose(out1, out8, atol=2e-4)


@pytest.mark.parametrize("overrides,message", [
    ({"task": "paired"}, "set task='unpaired'"),
    ({"parallel": "pmap"}, "use parallel=sharded, or cycle.pool_size=0"),
    ({"cycle.lambda_a": -1.0}, "cycle.lambda_a must be >= 0"),
    ({"input_channels": 3}, "must equal channels"),
    ({"image_size": 18}, "divisible by 4"),
    ({"loss": "relativistic_average"}, "needs a per-patch loss"),
    ({"n_critic": 2}, "supports penalty=none, n_critic=1"),
])
def test_bad_configs_are_refused_with_a_clear_message(overrides, message):
  with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
    build.build_gan(tiny(**overrides))


def test_pmap_without_pool_runs():
  c = tiny(**{"cycle.pool_size": 0, "parallel": "pmap"})
  gan = build.build_gan(c, bn_axis_name=parallel.PMAP_AXIS)
  mesh = parallel.make_mesh(jax.devices()[:2])
  runner = parallel.make_parallel("pmap", functools.partial(steps.gan_train_step, gan=gan), mesh)
  s = runner.init(functools.partial(init_state, gan, 0, build.image_shape(c)))
  s, m = runner.step(s, translation_batch(c))
  assert np.isfinite(np.asarray(runner.host_view(m)["g_loss"])).all()
