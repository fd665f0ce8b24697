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
