"""PyTorch's BatchNorm2d, with a hand-written backward pass: fewer passes over activations.

The function is Flax's `nn.BatchNorm(use_fast_variance=False)` (two-pass variance, float32
statistics, the same variables: params scale/bias, batch_stats mean/var). What differs is
the backward: autodiff of the composite materialises several full-size intermediates
(x - mean, its products, the broadcast statistics) that XLA:CPU does not fuse away; the
closed form
    dx = scale * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
needs one reduction pass over (dy, x) and one output pass. Activations are the large
tensors of DCGAN's step, and on a CPU every pass over them costs memory bandwidth.

Under pmap with `axis_name` the statistics are averaged over devices, and the backward
sums over devices in turn, which is what autodiff of the pmean gives (tested against
nn.BatchNorm in tests/test_batch_norm.py).
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_AXES = (0, 1, 2)  # NHWC: statistics per channel over batch and space


def _all_mean(v: jax.Array, axis_name: str | None) -> jax.Array:
  v = jnp.mean(v, _AXES)
  return lax.pmean(v, axis_name) if axis_name else v


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def normalize_train(x, scale, bias, epsilon: float, axis_name: str | None):
  """(y, batch mean, batch variance) of float32 NHWC x. The statistics are outputs for
  the running averages only: callers stop their gradients (see BatchNorm)."""
  return _forward(x, scale, bias, epsilon, axis_name)[0]


def _forward(x, scale, bias, epsilon, axis_name):
  mean = _all_mean(x, axis_name)
  var = _all_mean(jnp.square(x - mean), axis_name)
  rstd = lax.rsqrt(var + epsilon)
  y = (x - mean) * (scale * rstd) + bias
  return (y, mean, var), (x, mean, rstd, scale)


def _backward(epsilon, axis_name, residuals, cotangents):
  del epsilon
  x, mean, rstd, scale = residuals
  dy = cotangents[0]  # the statistics' cotangents are zero: their gradients are stopped
  xhat = (x - mean) * rstd
  sum_dy = jnp.sum(dy, _AXES)
  sum_dy_xhat = jnp.sum(dy * xhat, _AXES)
  n = x.shape[0] * x.shape[1] * x.shape[2]
  if axis_name:  # the statistics were means over every device's examples
    g_sum_dy, g_sum_dy_xhat = lax.psum((sum_dy, sum_dy_xhat), axis_name)
    n = n * lax.psum(1, axis_name)
  else:
    g_sum_dy, g_sum_dy_xhat = sum_dy, sum_dy_xhat
  dx = (scale * rstd) * (dy - g_sum_dy / n - xhat * (g_sum_dy_xhat / n))
  return dx, sum_dy_xhat, sum_dy  # parameter gradients are this device's, as autodiff's


normalize_train.defvjp(_forward, _backward)


class BatchNorm(nn.Module):
  """torch.nn.BatchNorm2d over the last axis of NHWC input: nn.BatchNorm's function and
  variables (checkpoints are interchangeable), with two differences. The running variance
  folds in the *unbiased* batch variance, n / (n - 1) times the one that normalises, as
  PyTorch does (Flax folds in the biased one; it matters where n is small: pix2pix's batch
  of 1 at 2x2 maps has n = 4). And with `fused_backward` (the CPU path) train mode uses the
  closed-form backward above; without it autodiff derives the backward (accelerators)."""
  use_running_average: bool = False
  fused_backward: bool = True
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = None            # output dtype (statistics and normalisation are float32)
  axis_name: str | None = None
  scale_init: Any = nn.initializers.ones
  bias_init: Any = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(f"BatchNorm expects NHWC input, got shape {x.shape}")
    features = (x.shape[-1],)
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(features, jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones(features, jnp.float32))
    scale = self.param("scale", self.scale_init, features, jnp.float32)
    bias = self.param("bias", self.bias_init, features, jnp.float32)
    out_dtype = self.dtype or jnp.result_type(x, jnp.float32)  # as Flax: params are float32
    x = x.astype(jnp.float32)
    if self.use_running_average:
      y = (x - ra_mean.value) * (scale * lax.rsqrt(ra_var.value + self.epsilon)) + bias
      return y.astype(out_dtype)
    axis_name = None if self.is_initializing() else self.axis_name
    if self.fused_backward:
      y, mean, var = normalize_train(x, scale, bias, self.epsilon, axis_name)
    else:
      y, mean, var = _forward(x, scale, bias, self.epsilon, axis_name)[0]
    if not self.is_initializing():
      n = x.shape[0] * x.shape[1] * x.shape[2] * (lax.psum(1, axis_name) if axis_name else 1)
      unbiased = var * (n / max(n - 1, 1))
      m = self.momentum
      ra_mean.value = m * ra_mean.value + (1 - m) * lax.stop_gradient(mean)
      ra_var.value = m * ra_var.value + (1 - m) * lax.stop_gradient(unbiased)
    return y.astype(out_dtype)
