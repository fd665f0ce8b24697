"""jaxgan's BatchNorm (torch's BatchNorm2d, optionally with a closed-form backward) against
Flax's nn.BatchNorm: outputs, gradients, running means, eval mode, and synchronised
statistics under pmap; the running variance against numpy's unbiased variance (PyTorch's
rule, where Flax folds in the biased one)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import batch_norm


def _pair(fused=True, **kw):
  kw.setdefault("use_running_average", False)
  common = dict(momentum=0.9, epsilon=1e-5, scale_init=nn.initializers.normal(1.0),
                bias_init=nn.initializers.normal(1.0), **kw)
  return (batch_norm.BatchNorm(fused_backward=fused, **common),
          nn.BatchNorm(use_fast_variance=False, **common))


def _split_var(results):
  """(everything but the running variances, the running variances) of a results tree."""
  flat = jax.tree_util.tree_flatten_with_path(results)[0]
  is_var = lambda path: any(getattr(k, "key", None) == "var" for k in path)
  return ([v for p, v in flat if not is_var(p)], [v for p, v in flat if is_var(p)])


def _unbiased(x, axes=(0, 1, 2)):
  return np.var(np.asarray(x, np.float64), axis=axes, ddof=1)


def _x(shape=(4, 5, 3, 6), seed=0):
  return 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(seed), shape)


def _loss(module, variables, x, w):
  y, updates = module.apply(variables, x, mutable=["batch_stats"])
  return jnp.sum(jnp.sin(y) * w), updates   # a cotangent that is not constant


@pytest.mark.parametrize("fused", [True, False])
def test_train_mode_values_grads_and_running_stats_equal_flax(fused):
  ours, flax_bn = _pair(fused)
  x = _x()
  w = jax.random.normal(jax.random.PRNGKey(1), x.shape)
  v = flax_bn.init(jax.random.PRNGKey(2), x)
  assert jax.tree.structure(v) == jax.tree.structure(ours.init(jax.random.PRNGKey(2), x))
  grads = {}
  for name, m in (("ours", ours), ("flax", flax_bn)):
    (val, upd), g = jax.value_and_grad(lambda v, x: _loss(m, v, x, w), (0, 1),
                                       has_aux=True)(v, x)
    grads[name] = (val, upd, g)
  (ours_rest, _), (flax_rest, _) = _split_var(grads["ours"]), _split_var(grads["flax"])
  for a, b in zip(ours_rest, flax_rest):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
  # The running variance: 0.9 * 1 + 0.1 * the unbiased batch variance, as PyTorch's.
  np.testing.assert_allclose(grads["ours"][1]["batch_stats"]["var"],
                             0.9 + 0.1 * _unbiased(x), rtol=1e-5)


def test_eval_mode_uses_running_statistics():
  ours, flax_bn = _pair(use_running_average=True)
  x = _x()
  v = flax_bn.init(jax.random.PRNGKey(2), x)
  v = {"params": v["params"], "batch_stats": {"mean": jnp.arange(6.0), "var": 1.0 + jnp.arange(6.0)}}
  np.testing.assert_allclose(ours.apply(v, x), flax_bn.apply(v, x), rtol=1e-6, atol=1e-6)


def test_output_dtype_follows_dtype_and_statistics_stay_float32():
  ours, _ = _pair(dtype=jnp.bfloat16)
  x = _x().astype(jnp.bfloat16)
  v = ours.init(jax.random.PRNGKey(0), x)
  y, upd = ours.apply(v, x, mutable=["batch_stats"])
  assert y.dtype == jnp.bfloat16
  assert upd["batch_stats"]["mean"].dtype == jnp.float32


def test_pmap_synchronised_statistics_and_gradients_equal_flax():
  n = 4
  if jax.local_device_count() < n:
    pytest.skip("needs 4 devices")
  ours, flax_bn = _pair(axis_name="d")
  x = _x((n, 2, 3, 3, 5))
  w = jax.random.normal(jax.random.PRNGKey(1), x.shape)
  v = flax_bn.init(jax.random.PRNGKey(2), x[0])
  results = {}
  for name, m in (("ours", ours), ("flax", flax_bn)):
    def per_device(v, x, w, m=m):
      (val, upd), g = jax.value_and_grad(lambda v, x: _loss(m, v, x, w), (0, 1),
                                         has_aux=True)(v, x)
      return val, upd, g
    results[name] = jax.pmap(per_device, axis_name="d", in_axes=(None, 0, 0))(v, x, w)
  (ours_rest, _), (flax_rest, _) = _split_var(results["ours"]), _split_var(results["flax"])
  for a, b in zip(ours_rest, flax_rest):
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)
  # The variance is over every device's examples: n = 4 devices x 2 x 3 x 3.
  var = results["ours"][1]["batch_stats"]["var"]
  np.testing.assert_allclose(var, np.broadcast_to(0.9 + 0.1 * _unbiased(x, (0, 1, 2, 3)), var.shape),
                             rtol=1e-5)
