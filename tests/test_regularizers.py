"""Penalties, weight clipping and spectral norm against their formulas in NumPy."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import config as config_lib
from jaxgan import losses
from jaxgan.errors import UsageError
from jaxgan.models import layers
from jaxgan.train import build, optim

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)
REAL = RNG.normal(size=(5, 3)).astype(np.float32)
FAKE = RNG.normal(size=(5, 3)).astype(np.float32)
EPS = np.array([0.0, 0.25, 0.5, 0.9, 1.0], np.float32)


def test_gradient_penalty_on_a_linear_d():
  # D(x) = w.x + b: grad D = w everywhere, so each penalty is (||w|| - 1)^2.
  w, b = np.array([0.3, -1.2, 2.0], np.float32), 0.7
  gp = jax.jit(lambda r, f, e: losses.gradient_penalty(lambda x: x @ w + b, r, f, e))(REAL, FAKE, EPS)
  np.testing.assert_allclose(gp, np.full(5, (np.linalg.norm(w) - 1.0) ** 2), rtol=1e-5)


def test_gradient_penalty_interpolates_real_and_fake():
  # D(x) = x^T A x / 2: grad D(x_hat) = A x_hat with x_hat = eps real + (1 - eps) fake.
  a = RNG.normal(size=(3, 3)).astype(np.float32)
  a = a + a.T
  gp = losses.gradient_penalty(lambda x: 0.5 * jnp.einsum("bi,ij,bj->b", x, a, x), REAL, FAKE, EPS)
  x_hat = EPS[:, None] * REAL + (1 - EPS[:, None]) * FAKE
  expected = (np.linalg.norm(x_hat @ a, axis=1) - 1.0) ** 2
  np.testing.assert_allclose(gp, expected, rtol=1e-4)


def test_gradient_penalty_checks_shapes():
  with pytest.raises(ValueError, match="eps must have shape"):
    losses.gradient_penalty(lambda x: x.sum(1), REAL, FAKE, EPS[:3])
  with pytest.raises(ValueError, match="same shape"):
    losses.gradient_penalty(lambda x: x.sum(1), REAL, FAKE[:4], EPS)


def test_r1_and_r2_are_squared_input_gradient_norms():
  # D(x) = sum(c * x^2): grad = 2 c x, one example's gradient independent of the others.
  c = np.array([0.5, -2.0, 1.5], np.float32)
  d = lambda x: jnp.sum(c * x ** 2, axis=1)
  np.testing.assert_allclose(jax.jit(lambda x: losses.r1_penalty(d, x))(REAL),
                             np.sum((2 * c * REAL) ** 2, axis=1), rtol=1e-5)
  np.testing.assert_allclose(losses.r2_penalty(d, FAKE), np.sum((2 * c * FAKE) ** 2, axis=1),
                             rtol=1e-5)
  # Images: the norm runs over all of H, W, C.
  img = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.r1_penalty(lambda x: jnp.sum(3.0 * x, axis=(1, 2, 3)), img),
                             np.full(2, 9.0 * 48), rtol=1e-5)


def test_weight_clipping_lands_every_parameter_in_range():
  params = {"w": jnp.array([0.005, -0.009, 0.0, 0.3]), "b": jnp.array([-0.2])}
  tx = optax.chain(optax.sgd(1.0), optim.clip_params(0.01))
  grads = {"w": jnp.array([-1.0, 0.001, 0.004, 0.0]), "b": jnp.array([0.5])}
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  expected_w = np.clip(np.array([1.005, -0.01, -0.004, 0.3]), -0.01, 0.01)
  np.testing.assert_allclose(new["w"], expected_w, atol=1e-8)
  np.testing.assert_allclose(new["b"], [-0.01], atol=1e-8)


def test_power_iteration_finds_the_largest_singular_value():
  w = RNG.normal(size=(7, 4)).astype(np.float32)
  u = layers._l2_normalize(jnp.ones(4))
  sigma, _ = jax.jit(lambda w, u: layers.power_iteration(w, u, 100))(w, u)
  np.testing.assert_allclose(sigma, np.linalg.svd(w, compute_uv=False)[0], rtol=1e-5)


@pytest.mark.parametrize("layer,shape", [(layers.SNDense(6, spectral=True), (2, 5)),
                                         (layers.SNConv(4, spectral=True), (2, 6, 6, 3))])
def test_spectral_norm_layers_against_svd(layer, shape):
  """After enough train-mode calls (one power step each, u carried in batch_stats), the
  normalised kernel's largest singular value (as a (fan_in, out) matrix) is 1."""
  x = jnp.ones(shape)
  variables = layer.init(jax.random.PRNGKey(0), x)
  assert set(variables) == {"params", "batch_stats"} and "sn_u" in variables["batch_stats"]
  kernel = np.asarray(variables["params"]["kernel"])
  mat = kernel.reshape(-1, kernel.shape[-1])
  sigma = np.linalg.svd(mat, compute_uv=False)[0]
  apply = jax.jit(lambda v: layer.apply(v, x, update_stats=True, mutable=["batch_stats"]))
  stats = variables["batch_stats"]
  for _ in range(60):
    _, m = apply({"params": variables["params"], "batch_stats": stats})
    stats = m["batch_stats"]
  # Eval mode (no update) with the converged u: the layer equals the kernel / sigma_svd layer.
  y = layer.apply({"params": variables["params"], "batch_stats": stats}, x, update_stats=False)
  plain = type(layer)(**{**{f: getattr(layer, f) for f in ("features",)}, "spectral": False})
  bias_free = {"params": {**variables["params"], "kernel": kernel / sigma}}
  np.testing.assert_allclose(y, plain.apply(bias_free, x), rtol=1e-4, atol=1e-5)


def _toy(**overrides):
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "toy_ring.py"))
  for k, v in overrides.items():
    config_lib.apply_overrides(c, {k: str(v)})
  return c


@pytest.mark.parametrize("field,value,match", [
    ("loss", "wgan", "unknown loss 'wgan'; valid: .*hinge.*wasserstein"),
    ("penalty", "gp2", "unknown penalty 'gp2'; valid: none, gp, r1, r2"),
    ("penalty", "gp", "needs penalty_weight > 0"),
    ("n_critic", "3", "multiple of n_critic=3"),
    ("ema_decay", "1.5", "ema_decay must be in"),
    ("model.name", "big", "unknown model .big.; valid: cyclegan, dcgan, deepfill, esrgan, mlp, pix2pix, "
     "resnet, srgan, stylegan2"),
])
def test_bad_config_fields_are_usage_errors(field, value, match):
  with pytest.raises(UsageError, match=match):
    build.build_gan(_toy(**{field: value}))


def test_penalty_refuses_a_batchnorm_discriminator():
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "dcgan_digits.py"))
  c.penalty, c.penalty_weight = "r1", 1.0
  with pytest.raises(UsageError, match="without BatchNorm"):
    build.build_gan(c)


def test_linear_decay_without_decay_steps_ends_with_the_run():
  # decay_steps=0: G's lr reaches 0 after num_train_steps updates, D's after n_critic times
  # as many. Adam's step on a constant gradient is -lr(t) exactly, which exposes lr(t).
  gan = build.build_gan(_toy(num_train_steps=10, n_critic=2))
  for tx, total in ((gan.g_tx, 10), (gan.d_tx, 20)):
    params = {"w": jnp.zeros(3)}
    state = tx.init(params)
    steps = []
    for _ in range(total + 1):
      upd, state = tx.update({"w": jnp.ones(3)}, state, params)
      steps.append(-float(upd["w"][0]))
    np.testing.assert_allclose(steps[0], 1e-3, rtol=1e-5)
    np.testing.assert_allclose(steps[total // 2], 0.5e-3, rtol=1e-4)
    assert steps[total] == 0.0


def test_step_decay_multiplies_the_lr_at_each_milestone():
  # torch's MultiStepLR(milestones=[3, 6], gamma=0.5): updates 0-2 at lr, 3-5 at lr/2, then lr/4.
  c = _toy(num_train_steps=10)
  c.optimizer_g.update(dict(decay="step", milestones=[3, 6], gamma=0.5))
  tx = build.build_gan(c).g_tx
  params = {"w": jnp.zeros(1)}
  state = tx.init(params)
  steps = []
  for _ in range(8):
    upd, state = tx.update({"w": jnp.ones(1)}, state, params)
    steps.append(-float(upd["w"][0]))
  np.testing.assert_allclose(steps, [1e-3] * 3 + [0.5e-3] * 3 + [0.25e-3] * 2, rtol=1e-5)
  for bad in ([], [5, 3], [0]):
    c.optimizer_g.milestones = bad
    with pytest.raises(UsageError, match="needs milestones"):
      build.build_gan(c)
