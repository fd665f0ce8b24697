"""Losses against their formulas in NumPy, including logits far beyond float32 sigmoid range."""

import jax
import numpy as np
import pytest

from jaxgan import losses
from jaxgan.errors import UsageError

REAL = np.array([-200.0, -30.0, -2.0, 0.0, 0.5, 3.0, 40.0, 1e4], np.float32)
FAKE = np.array([1e4, 35.0, 1.0, 0.0, -0.5, -4.0, -60.0, -1e4], np.float32)


def _np_log_sigmoid(x):
  x = x.astype(np.float64)
  return -np.logaddexp(0.0, -x)  # log(1 / (1 + e^-x)), exact in float64


def test_minimax_d_loss_matches_formula():
  expected = -_np_log_sigmoid(REAL) - _np_log_sigmoid(-FAKE)  # -log D(x) - log(1 - D(G(z)))
  got = jax.jit(losses.minimax_d_loss)(REAL, FAKE)
  assert got.shape == REAL.shape and np.all(np.isfinite(got))
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_non_saturating_g_loss_matches_formula():
  got = jax.jit(losses.non_saturating_g_loss)(FAKE)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, -_np_log_sigmoid(FAKE), rtol=1e-6)


def test_minimax_g_loss_matches_formula():
  got = jax.jit(losses.minimax_g_loss)(FAKE)
  np.testing.assert_allclose(got, _np_log_sigmoid(-FAKE), rtol=1e-6)


def test_hand_computed_values():
  # D(x) = sigmoid(0) = 1/2 on both: L_D = 2 log 2, L_G = log 2.
  np.testing.assert_allclose(losses.minimax_d_loss(np.zeros(1), np.zeros(1)), [2 * np.log(2)],
                             rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_g_loss(np.zeros(1)), [np.log(2)], rtol=1e-6)


def test_gradients_stay_finite_at_extreme_logits():
  g = jax.grad(lambda r, f: losses.minimax_d_loss(r, f).sum(), argnums=(0, 1))(REAL, FAKE)
  assert all(np.all(np.isfinite(x)) for x in g)


def test_shape_mismatch_raises():
  with pytest.raises(ValueError, match="same shape"):
    losses.minimax_d_loss(np.zeros(3), np.zeros(4))


def test_unknown_loss_lists_valid_names():
  with pytest.raises(UsageError, match="valid: dcgan"):
    losses.get_gan_loss("nope")


# --- The GAN zoo's losses, each against its formula in NumPy ---------------------------------

R = np.array([-3.0, -0.5, 0.0, 0.7, 2.0, 5.0], np.float32)
F = np.array([4.0, 1.5, 0.0, -0.3, -2.0, -6.0], np.float32)


def test_least_squares_losses():
  np.testing.assert_allclose(jax.jit(losses.least_squares_d_loss)(R, F),
                             0.5 * (R - 1.0) ** 2 + 0.5 * F ** 2, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(losses.least_squares_g_loss)(F), 0.5 * (F - 1.0) ** 2,
                             rtol=1e-6)
  # By hand: D(x) = 1, D(G(z)) = 0 is the D optimum (loss 0); D(G(z)) = 3 costs G 2.
  np.testing.assert_allclose(losses.least_squares_d_loss(np.ones(1), np.zeros(1)), [0.0])
  np.testing.assert_allclose(losses.least_squares_g_loss(np.full(1, 3.0)), [2.0])


def test_wasserstein_losses():
  np.testing.assert_allclose(jax.jit(losses.wasserstein_d_loss)(R, F), F - R, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(losses.wasserstein_g_loss)(F), -F, rtol=1e-6)


def test_hinge_d_loss():
  expected = np.maximum(0.0, 1.0 - R) + np.maximum(0.0, 1.0 + F)
  np.testing.assert_allclose(jax.jit(losses.hinge_d_loss)(R, F), expected, rtol=1e-6)
  # By hand: real logit 2 and fake logit -3 are past both margins: no loss.
  np.testing.assert_allclose(losses.hinge_d_loss(np.full(1, 2.0), np.full(1, -3.0)), [0.0])
  assert losses.GAN_LOSSES["hinge"][1] is losses.wasserstein_g_loss  # G: -D(G(z))


def _np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_relativistic_average_losses():
  mr, mf = R.astype(np.float64).mean(), F.astype(np.float64).mean()
  d = -np.log(_np_sigmoid(R - mf)) - np.log(1.0 - _np_sigmoid(F - mr))
  g = -np.log(_np_sigmoid(F - mr)) - np.log(1.0 - _np_sigmoid(R - mf))
  np.testing.assert_allclose(jax.jit(losses.relativistic_average_d_loss)(R, F), d, rtol=1e-5)
  np.testing.assert_allclose(jax.jit(losses.relativistic_average_g_loss)(F, R), g, rtol=1e-5)
  # By hand: all logits equal -> every relative logit is 0 -> 2 log 2 each.
  np.testing.assert_allclose(losses.relativistic_average_d_loss(np.ones(3), np.ones(3)),
                             np.full(3, 2 * np.log(2)), rtol=1e-6)
  assert losses.needs_real_logits(losses.relativistic_average_g_loss)
  assert not losses.needs_real_logits(losses.non_saturating_g_loss)


def test_relativistic_mean_is_the_global_batch_mean_under_pmap():
  n = jax.local_device_count()
  r = np.linspace(-2, 2, 4 * n).astype(np.float32)
  f = np.linspace(3, -1, 4 * n).astype(np.float32)
  whole = losses.relativistic_average_d_loss(r, f)
  split = jax.pmap(lambda a, b: losses.relativistic_average_d_loss(a, b, axis_name="i"),
                   axis_name="i")(r.reshape(n, 4), f.reshape(n, 4))
  np.testing.assert_allclose(np.asarray(split).reshape(-1), whole, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(losses.GAN_LOSSES))
def test_every_loss_is_finite_and_checks_shapes(name):
  d_loss, g_loss = losses.GAN_LOSSES[name]
  assert np.all(np.isfinite(jax.jit(d_loss)(REAL, FAKE)))
  assert np.all(np.isfinite(jax.jit(g_loss)(FAKE, REAL)))
  grads = jax.grad(lambda r, f: d_loss(r, f).sum() + g_loss(f, r).sum(), argnums=(0, 1))(REAL, FAKE)
  assert all(np.all(np.isfinite(x)) for x in grads)
  with pytest.raises(ValueError, match="same shape"):
    d_loss(np.zeros(3), np.zeros(4))


def test_unknown_loss_lists_every_valid_name():
  with pytest.raises(UsageError) as e:
    losses.get_gan_loss("wgan")
  for name in ("hinge", "least_squares", "minimax", "non_saturating", "relativistic_average",
               "wasserstein"):
    assert name in str(e.value)


def test_unknown_penalty_lists_valid_names():
  with pytest.raises(UsageError, match="valid: none, gp, r1, r2"):
    losses.check_penalty("r3")
