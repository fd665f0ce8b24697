"""pix2pix: the paired translation step (losses, order, parallel modes) and its config checks.

The networks and one training step against the authors' PyTorch code are in
tests/test_pix2pix_torch.py (a stored fixture); here the step is checked against its
formula recomputed by hand, and across device counts and parallel modes.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.errors import UsageError
from jaxgan.train import build, parallel, steps
from jaxgan.train.state import init_state
from helpers import REPO, set_fields, translation_batch
from jaxgan.train.translation_step import dropout_key, g_apply



def tiny(**overrides):
  """experiments/pix2pix_edges2digits.py at 64x64 (six levels: one has dropout), width 2."""
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "pix2pix_edges2digits.py"))
  c.image_size = c.load_size = 64
  c.model.g_width = c.model.d_width = 2
  c.batch_size = 8
  return set_fields(c, overrides)


def test_generator_has_dropout_where_the_reference_has_it():
  g = build.build_gan(tiny()).generator
  x = jnp.asarray(translation_batch(tiny())["input"])
  v = g.init(jax.random.PRNGKey(0), x, train=False)
  run = lambda key, train: g.apply(v, x, train=train, rngs={"dropout": key},
                                   mutable=["batch_stats"])[0]
  a, b = run(jax.random.PRNGKey(1), True), run(jax.random.PRNGKey(2), True)
  assert float(jnp.max(jnp.abs(a - b))) > 1e-3          # dropout is G's noise in train mode
  np.testing.assert_array_equal(run(jax.random.PRNGKey(1), False),
                                run(jax.random.PRNGKey(2), False))
  g0 = g.clone(dropout=0.0)
  np.testing.assert_array_equal(g0.apply(v, x, train=True, rngs={"dropout": jax.random.PRNGKey(1)},
                                         mutable=["batch_stats"])[0],
                                g0.apply(v, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)},
                                         mutable=["batch_stats"])[0])


def test_step_computes_the_pix2pix_objectives():
  """d_loss, g_loss, g_l1 and D's gradient recomputed from the networks and the formulas."""
  c = tiny()
  gan = build.build_gan(c)
  state = init_state(gan, 0, build.image_shape(c))
  batch = translation_batch(c)
  new, m = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(state, batch)

  x, y = jnp.asarray(batch["input"]), jnp.asarray(batch["image"])
  fake, _ = g_apply(gan, state.g.params, state.g.batch_stats, x, dropout_key(state, None))
  D = gan.discriminator
  def d_logits(params, stats, a, b):
    return D.apply({"params": params, "batch_stats": stats}, jnp.concatenate([a, b], -1),
                   train=True, mutable=["batch_stats"])
  bce = lambda logits, target: jnp.mean(jnp.maximum(logits, 0) - logits * target
                                        + jnp.log1p(jnp.exp(-jnp.abs(logits))))
  def d_objective(params):
    lf, mut = d_logits(params, state.d.batch_stats, x, fake)
    lr, _ = d_logits(params, mut["batch_stats"], x, y)
    return 0.5 * (bce(lr, 1.0) + bce(lf, 0.0))
  d_loss, d_grads = jax.value_and_grad(d_objective)(state.d.params)
  np.testing.assert_allclose(m["d_loss"], d_loss, rtol=1e-5)
  np.testing.assert_allclose(m["d_grad_norm"], jnp.sqrt(sum(
      jnp.sum(g ** 2) for g in jax.tree.leaves(d_grads))), rtol=1e-4)
  np.testing.assert_allclose(m["g_l1"], jnp.mean(jnp.abs(fake - y)), rtol=1e-5)
  # G's adversarial term is judged by the *updated* D.
  logits_after, _ = d_logits(new.d.params, state.d.batch_stats, x, fake)
  np.testing.assert_allclose(m["g_loss"], bce(logits_after, 1.0), rtol=1e-4)
  assert int(new.step) == 1


def test_l1_weight_enters_g_gradient():
  c = tiny()
  batch = translation_batch(c)
  norms = []
  for w in (0.0, 100.0):
    c.translation.l1_weight = w
    gan = build.build_gan(c)
    state = init_state(gan, 0, build.image_shape(c))
    _, m = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(state, batch)
    norms.append(float(m["g_grad_norm"]))
  assert norms[1] > 5 * norms[0]


def _run(c, mode, num_devices, state, batches):
  gan = build.build_gan(c, bn_axis_name=parallel.PMAP_AXIS if mode == "pmap" else None)
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)
  s = runner.from_checkpoint(state)
  for b in batches:
    s, m = runner.step(s, b)
  return runner.to_checkpoint(s), runner.host_view(m)


@pytest.mark.parametrize("mode,dropout", [("sharded", 0.5), ("pmap", 0.0)])
def test_eight_devices_equal_one(mode, dropout):
  """Sharded jit draws one global dropout mask, so any device count gives the same run;
  pmap devices draw their own masks, so that comparison runs without dropout."""
  c = tiny(**{"model.dropout": dropout})
  gan = build.build_gan(c)
  state = jax.device_get(init_state(gan, 0, build.image_shape(c)))
  batches = [translation_batch(c, s) for s in range(2)]
  one, m1 = _run(c, "sharded", 1, state, batches)
  eight, m8 = _run(c, mode, 8, state, batches)
  flat1, flat8 = jax.tree.leaves(jax.device_get(one)), jax.tree.leaves(jax.device_get(eight))
  assert len(flat1) == len(flat8)
  for a, b in zip(flat1, flat8):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
  np.testing.assert_allclose(float(np.mean(m1["d_loss"])), float(np.mean(m8["d_loss"])), rtol=1e-4)


@pytest.mark.parametrize("overrides,message", [
    ({"task": "noise"}, "set task='paired'"),
    ({"penalty": "gp", "penalty_weight": 10.0}, "supports penalty=none"),
    ({"loss": "relativistic_average"}, "needs a per-patch loss"),
    ({"translation.l1_weight": -1.0}, "l1_weight must be >= 0"),
    ({"model.norm": "group"}, "unknown norm 'group'"),
    ({"image_size": 48}, "power of two"),
    ({"input_channels": 2}, "input_channels must be 1 or 3"),
])
def test_bad_configs_are_refused_with_a_clear_message(overrides, message):
  with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
    build.build_gan(tiny(**overrides))


def test_unknown_translation_option_is_refused():
  c = tiny()
  c.translation.l2_weight = 1.0
  with pytest.raises(UsageError, match="unknown translation options l2_weight"):
    build.build_gan(c)
