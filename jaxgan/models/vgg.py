"""VGG19 features for perceptual losses (SRGAN's VGG54, ESRGAN's conv5_4).

torchvision's `vgg19().features` layout: 16 3x3 convs (bias, padding 1) in five stages of
2, 2, 4, 4, 4 (widths 64, 128, 256, 512, 512), each followed by ReLU, a 2x2 max pool after
each stage. Layers are named as BasicSR's VGGFeatureExtractor names them (conv1_1, relu1_1,
..., pool5); `LAYERS[i]` is the name of features.<i>. The network runs up to and including
its `layer`:

- "relu5_4": SRGAN's phi_{5,4}, "the feature map obtained by the 4th convolution (after
  activation) before the 5th maxpooling layer";
- "conv5_4": the same map before its ReLU, ESRGAN's choice (BasicSR's layer_weights
  {'conv5_4': 1}).

Input: images in [-1, 1] (jaxgan's range), mapped to [0, 1] and normalised by the ImageNet
mean and std, as torchvision's weights expect (BasicSR's use_input_norm=True,
range_norm=True). The weights (vgg19-dcbb9e9d.pth, torchvision's) cannot be fetched here:
`load_torchvision_vgg19(path)` converts a downloaded copy.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models import layers

STAGES = (2, 2, 4, 4, 4)
WIDTHS = (64, 128, 256, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> tuple[str, ...]:
  names = []
  for s, n in enumerate(STAGES, start=1):
    for c in range(1, n + 1):
      names += [f"conv{s}_{c}", f"relu{s}_{c}"]
    names.append(f"pool{s}")
  return tuple(names)


LAYERS = _layer_names()                                          # 37: features.0 .. 36
CONV_INDICES = tuple(i for i, n in enumerate(LAYERS) if n.startswith("conv"))


def layer_index(layer: str) -> int:
  if layer not in LAYERS:
    raise ValueError(f"unknown VGG19 layer {layer!r}; valid: conv<s>_<c>, relu<s>_<c>, "
                     f"pool<s> as torchvision's features (e.g. relu5_4, conv5_4)")
  return LAYERS.index(layer)


class VGG19Features(nn.Module):
  """images (B, H, W, 3) in [-1, 1] -> VGG19 features at `layer` (B, H', W', C), float32.

  Parameters are named features_<i> (torchvision's features.<i>) with kernel and bias.
  """
  layer: str = "relu5_4"
  dtype: Any = jnp.float32
  width_divisor: int = 1       # > 1: a narrower VGG for tests (torchvision's weights: 1)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    last = layer_index(self.layer)
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f"VGG19Features expects (B, H, W, 3) images, got shape {x.shape}")
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    h = ((x.astype(jnp.float32) * 0.5 + 0.5) - mean) / std
    width = iter(w for w, n in zip(WIDTHS, STAGES) for _ in range(n))
    for i, name in enumerate(LAYERS[:last + 1]):
      if name.startswith("conv"):
        h = layers.BiasedConv2d(next(width) // self.width_divisor, 3, 1, 1, dtype=self.dtype,
                                impl="lax", name=f"features_{i}")(h)
      elif name.startswith("relu"):
        h = nn.relu(h)
      else:  # MaxPool2d(2, 2)
        h = nn.max_pool(h, (2, 2), (2, 2))
    return h.astype(jnp.float32)


def variables_from_state_dict(state_dict: dict, layer: str = "conv5_4") -> dict:
  """torchvision vgg19 state_dict (features.<i>.weight/bias; classifier.* ignored) -> the
  {'params'} of VGG19Features(layer): the convs up to `layer` only."""
  last = layer_index(layer)
  params = {}
  for i in CONV_INDICES:
    if i > last:
      break
    try:
      w, b = state_dict[f"features.{i}.weight"], state_dict[f"features.{i}.bias"]
    except KeyError as e:
      raise ValueError(f"not a torchvision vgg19 state_dict: no {e.args[0]!r}") from None
    params[f"features_{i}"] = {"kernel": np.transpose(np.asarray(w, np.float32), (2, 3, 1, 0)),
                               "bias": np.asarray(b, np.float32)}
  return {"params": params}


def load_torchvision_vgg19(path: str, layer: str = "conv5_4") -> dict:
  """Flax variables of VGG19Features(layer) from torchvision's vgg19-dcbb9e9d.pth (or any
  vgg19 state_dict saved by torch.save). Needs torch to read the file."""
  try:
    import torch
  except ImportError:
    raise ImportError(f"reading {path} needs PyTorch (pip install torch): .pth files are "
                      f"torch pickles") from None
  sd = torch.load(path, map_location="cpu", weights_only=True)
  sd = sd.get("state_dict", sd)
  return variables_from_state_dict({k: v.numpy() for k, v in sd.items()}, layer)


def init_variables(layer: str, key: jax.Array, width_divisor: int = 1) -> dict:
  """Randomly initialised variables of VGG19Features(layer) (shapes only matter: real
  weights are swapped in with load_torchvision_vgg19); no input of any size is run."""
  module = VGG19Features(layer, width_divisor=width_divisor)
  return module.init(key, jnp.zeros((1, 16, 16, 3), jnp.float32))
