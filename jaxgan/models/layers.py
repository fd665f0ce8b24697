"""Shared Flax layers with PyTorch-compatible semantics."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Dtype = Any

# DCGAN's initialisation (Radford et al. 2016): every conv weight ~ N(0, 0.02).
dcgan_conv_init = nn.initializers.normal(stddev=0.02)


def dcgan_bn_scale_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  """BatchNorm scale ~ N(1, 0.02), as in the PyTorch DCGAN tutorial's weights_init."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def torch_batch_norm(train: bool, *, name: str, dtype: Dtype, axis_name: str | None = None,
                     scale_init=nn.initializers.ones) -> nn.BatchNorm:
  """nn.BatchNorm with torch.nn.BatchNorm2d's defaults (momentum 0.1 == Flax 0.9, eps 1e-5).

  The two-pass variance matches PyTorch to float32 round-off; the one-pass
  E[x^2] - E[x]^2 form does not.
  """
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      use_fast_variance=False, axis_name=axis_name, dtype=dtype,
                      scale_init=scale_init, name=name)


class ConvTranspose2d(nn.Module):
  """torch.nn.ConvTranspose2d(in, features, kernel, stride, padding, bias=False), NHWC.

  The kernel is stored as (kh, kw, in, out) and applied as a correlation over the
  stride-dilated input padded by kernel - 1 - padding; a PyTorch weight (in, out, kh, kw)
  maps onto it transposed and spatially flipped (see jaxgan/models/torch_import.py).
  Output size: (H - 1) * stride - 2 * padding + kernel.
  """
  features: int
  kernel_size: int = 4
  stride: int = 2
  padding: int = 1
  dtype: Dtype = jnp.float32
  kernel_init: Any = dcgan_conv_init

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
    pad = k - 1 - self.padding
    if pad < 0:
      raise ValueError(f"padding {self.padding} > kernel_size - 1 is not supported")
    return lax.conv_transpose(x, kernel, strides=(self.stride, self.stride),
                              padding=((pad, pad), (pad, pad)),
                              dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv2d(features: int, kernel_size: int, stride: int, padding: int, *, name: str,
           dtype: Dtype) -> nn.Conv:
  """torch.nn.Conv2d(..., bias=False) in NHWC with DCGAN init."""
  return nn.Conv(features, (kernel_size, kernel_size), strides=(stride, stride),
                 padding=((padding, padding), (padding, padding)), use_bias=False,
                 kernel_init=dcgan_conv_init, dtype=dtype, name=name)
