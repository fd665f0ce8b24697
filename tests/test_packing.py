"""PacGAN packing: the layout against explicit concatenation, the step with packs under
1 and 8 devices, and the refusals."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import config as config_lib
from jaxgan.data import toy2d
from jaxgan.errors import UsageError
from jaxgan.models import mlp, packing
from jaxgan.train import build, parallel, steps
from jaxgan.train.state import init_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pack_concatenates_consecutive_examples_along_the_last_axis():
  x = np.random.default_rng(0).normal(size=(6, 3, 3, 2)).astype(np.float32)
  got = np.asarray(packing.pack(jnp.asarray(x), 3))
  want = np.stack([np.concatenate([x[3 * b + j] for j in range(3)], axis=-1) for b in range(2)])
  np.testing.assert_array_equal(got, want)                  # (2, 3, 3, 6)
  pts = np.arange(8, dtype=np.float32).reshape(4, 2)
  np.testing.assert_array_equal(packing.pack(jnp.asarray(pts), 2), [[0, 1, 2, 3], [4, 5, 6, 7]])
  with pytest.raises(ValueError, match="does not divide"):
    packing.pack(jnp.ones((5, 2)), 2)


def test_packed_d_is_the_inner_d_on_packed_input():
  inner = mlp.Discriminator(width=8, depth=2)
  d = packing.Packed(inner, 2)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 2))
  v = d.init(jax.random.PRNGKey(1), x, train=False)
  out = d.apply(v, x, train=False)
  assert out.shape == (3,)
  inner_v = {"params": v["params"]["inner"]}
  np.testing.assert_allclose(out, inner.apply(inner_v, x.reshape(3, 4), train=False), rtol=1e-6)


def _config(**overrides):
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "toy_ring.py"))
  small = {"model.g_width": "8", "model.d_width": "8", "model.g_depth": "2",
           "model.d_depth": "2", "batch_size": "32", "model.pack": "2"}
  config_lib.apply_overrides(c, {**small, **{k: str(v) for k, v in overrides.items()}})
  return c


def _train(c, mode, num_devices, num_steps=2):
  gan = build.build_gan(c)
  mesh = parallel.make_mesh(jax.devices()[:num_devices])
  runner = parallel.make_parallel(mode, functools.partial(steps.gan_train_step, gan=gan), mesh)
  state = runner.init(functools.partial(init_state, gan, c.seed, build.image_shape(c)))
  for s in range(num_steps):
    state, m = runner.step(state, {"image": toy2d.batch_for_step(c.dataset, 0, s, c.batch_size)})
  return jax.device_get(runner.host_view(state)), jax.device_get(runner.host_view(m))


@pytest.mark.parametrize("mode", ["sharded", "pmap"])
def test_packed_step_eight_devices_equal_one(mode):
  ref, ref_m = _train(_config(), "sharded", 1)
  state, m = _train(_config(), mode, 8)            # 4 examples = 2 packs per device
  # D's first layer takes packs of 2 points: 4 inputs.
  assert ref.d.params["inner"]["fc0"]["kernel"].shape[0] == 4
  for x, y in zip(jax.tree.leaves(state.g.params), jax.tree.leaves(ref.g.params)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(m["d_loss"], ref_m["d_loss"], rtol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    ({"penalty": "gp", "penalty_weight": "1.0"}, "supports penalty=none"),
    ({"batch_size": "30", "model.pack": "4"}, "must divide into packs"),
    ({"model.pack": "0"}, "model.pack must be an integer >= 1"),
])
def test_packing_refusals(overrides, message):
  with pytest.raises(UsageError, match=message):
    build.build_gan(_config(**overrides))
