"""LPIPS, the learned perceptual distance of Zhang et al. 2018 ("The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric"), version 0.1 as the authors'
`lpips` package computes it:

  d(x, y) = sum_l mean_{h,w} sum_c w_lc (n(f_l(x)) - n(f_l(y)))_hwc^2

f_l: five ReLU outputs of an ImageNet classifier's convolutional trunk (torchvision's
AlexNet, the package's default and what SR/inpainting/translation papers report as
"LPIPS", or VGG16, the distance NVIDIA's StyleGAN2 projector minimises); n: each pixel's
feature vector divided by its length (+ 1e-10); w_l >= 0: the per-channel weights fitted
to human judgements (the package's 1x1 "lin" convolutions). Inputs are [-1, 1] images
(jaxgan's range, the package's default), shifted and scaled per channel first as the
package's ScalingLayer; grey images are repeated to three channels.

Weights: the trunk from torchvision's ImageNet file (alexnet-owt-7be5be79.pth or
vgg16-397923af.pth) and the lin weights from the `lpips` package's
`weights/v0.1/{alex,vgg}.pth` (found automatically when the package is installed), or one
state_dict of a whole `lpips.LPIPS` module. None of them can be downloaded here;
`load(path)` converts copies (reading .pth files needs torch; `jaxgan convert lpips`
writes them once as an .npz that loads without it). Checked against the
package's own module (tests/test_lpips.py, fixture by tests/fixtures/make_lpips_fixture.py).
"""

import functools
import os
import re
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import UsageError
from jaxgan.models import layers

# The package's ScalingLayer: (x - shift) / scale on [-1, 1] images.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

# torchvision's `features` Sequentials, index by index: ("conv", out, kernel, stride, pad),
# ("relu",), ("pool", kernel, stride); TAPS: the indices whose outputs LPIPS compares.
_VGG16_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512)


def _vgg16_layers() -> tuple:
  out = []
  for v in _VGG16_WIDTHS:
    out += [("pool", 2, 2)] if v == "M" else [("conv", v, 3, 1, 1), ("relu",)]
  return tuple(out)


TRUNKS = {
    "alex": (("conv", 64, 11, 4, 2), ("relu",), ("pool", 3, 2), ("conv", 192, 5, 1, 2),
             ("relu",), ("pool", 3, 2), ("conv", 384, 3, 1, 1), ("relu",),
             ("conv", 256, 3, 1, 1), ("relu",), ("conv", 256, 3, 1, 1), ("relu",)),
    "vgg": _vgg16_layers(),
}
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
NETS = tuple(TRUNKS)
# The smallest side whose last tap is not empty (AlexNet: 11x11 stride-4 conv, two 3x3
# stride-2 pools; VGG16: four 2x2 pools before relu5_3).
MIN_SIZE = {"alex": 31, "vgg": 16}


def _check_net(net: str) -> None:
  if net not in TRUNKS:
    raise ValueError(f"unknown LPIPS net {net!r}; valid: {', '.join(NETS)}")


def check_size(net: str, side: int, what: str = "") -> None:
  """UsageError when images of this side are too small for the net's deepest tap."""
  if side < MIN_SIZE[net]:
    raise UsageError(f"LPIPS ({net}) needs images of at least {MIN_SIZE[net]} pixels a side"
                     f"{what}; these are {side}")


def _safe_norm(h: jax.Array) -> jax.Array:
  """Each pixel's feature length; a zero vector (every ReLU off) gets a zero gradient
  instead of sqrt's infinite one times 0 (NaN), the same value otherwise."""
  s = jnp.sum(h * h, axis=-1, keepdims=True)
  return jnp.where(s > 0, jnp.sqrt(jnp.where(s > 0, s, 1.0)), 0.0)


class LPIPS(nn.Module):
  """(x, y) (B, H, W, C) in [-1, 1], C in {1, 3} -> LPIPS distances (B,), float32.

  Parameters: features_<i> {kernel, bias} (torchvision's features.<i>) and lin_<l>
  {weight (C_l,)} (the package's lin<l>.model.1.weight).
  """
  net: str = "alex"

  def setup(self):
    _check_net(self.net)
    self.convs = {i: layers.BiasedConv2d(spec[1], spec[2], spec[3], spec[4], impl="lax",
                                         name=f"features_{i}")
                  for i, spec in enumerate(TRUNKS[self.net]) if spec[0] == "conv"}
    self.lins = [self.param(f"lin_{l}", nn.initializers.ones, (self._tap_width(l),))
                 for l in range(len(TAPS[self.net]))]

  def _tap_width(self, l: int) -> int:
    convs = [spec[1] for spec in TRUNKS[self.net][:TAPS[self.net][l] + 1] if spec[0] == "conv"]
    return convs[-1]

  def taps(self, x: jax.Array) -> list[jax.Array]:
    """The five unit-normalised feature maps of x, float32."""
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
      raise ValueError(f"LPIPS expects (B, H, W, 1 or 3) images, got shape {x.shape}")
    h = jnp.broadcast_to(x, x.shape[:3] + (3,)).astype(jnp.float32)
    h = (h - jnp.asarray(SHIFT)) / jnp.asarray(SCALE)
    out = []
    for i, spec in enumerate(TRUNKS[self.net][:TAPS[self.net][-1] + 1]):
      if spec[0] == "conv":
        h = self.convs[i](h)
      elif spec[0] == "relu":
        h = nn.relu(h)
      else:
        h = nn.max_pool(h, (spec[1],) * 2, (spec[2],) * 2)
      if i in TAPS[self.net]:
        out.append(h / (_safe_norm(h) + EPS))
    return out

  def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
    total = 0.0
    for fx, fy, w in zip(self.taps(x), self.taps(y), self.lins):
      total = total + jnp.mean(jnp.sum(w * (fx - fy) ** 2, axis=-1), axis=(1, 2))
    return total

  def embed(self, x: jax.Array) -> jax.Array:
    """(B, D) vectors whose squared distance is LPIPS: each tap times sqrt(w_l) and
    1/sqrt(its pixels), flattened (NVIDIA's projector compares images this way, so a
    target's features are computed once). Needs w >= 0 (load() checks)."""
    parts = []
    for f, w in zip(self.taps(x), self.lins):
      scaled = f * jnp.sqrt(jnp.maximum(w, 0.0)) / np.sqrt(f.shape[1] * f.shape[2])
      parts.append(scaled.reshape(f.shape[0], -1))
    return jnp.concatenate(parts, axis=1)


# --- weights ---------------------------------------------------------------------------

_LIN_KEY = re.compile(r"^(?:lin|lins\.)(\d)\.model\.1\.weight$")
_SLICE_KEY = re.compile(r"^net\.slice\d\.(\d+)\.(weight|bias)$")
_FEATURES_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")


def infer_net(state_dict: dict) -> str:
  """"alex" or "vgg" from a trunk's first convolution (11x11 vs 3x3)."""
  for key, value in state_dict.items():
    m = _FEATURES_KEY.match(key) or _SLICE_KEY.match(key)
    if m and int(m.group(1)) == 0 and m.group(2) == "weight":
      size = np.shape(value)[-1]
      if size in (11, 3):
        return "alex" if size == 11 else "vgg"
  raise ValueError("not an AlexNet or VGG16 state_dict: no features.0.weight (torchvision) "
                   "or net.slice1.0.weight (lpips) of kernel size 11 or 3")


def variables_from_state_dicts(trunk: dict, lin: dict, net: str | None = None) -> dict:
  """{'params'} of LPIPS(net) from a trunk state_dict (torchvision's features.<i>.*, or an
  lpips module's net.slice<k>.<i>.*; classifier.* ignored) and the lin weights
  (lin<l>.model.1.weight, shape (1, C, 1, 1)); both may be the same dict. NumPy arrays."""
  net = net or infer_net(trunk)
  _check_net(net)
  convs = {}
  for key, value in trunk.items():
    m = _FEATURES_KEY.match(key) or _SLICE_KEY.match(key)
    if m:
      convs.setdefault(int(m.group(1)), {})[m.group(2)] = np.asarray(value, np.float32)
  lins = {}
  for key, value in lin.items():
    m = _LIN_KEY.match(key)
    if m:
      lins[int(m.group(1))] = np.asarray(value, np.float32).reshape(-1)
  x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)  # shapes only: nothing is run
  template = jax.eval_shape(lambda a, b: LPIPS(net).init(jax.random.PRNGKey(0), a, b),
                            x, x)["params"]
  params = {}
  for name, shapes in template.items():
    index = int(name.split("_")[1])
    if name.startswith("features_"):
      if set(convs.get(index, {})) != {"weight", "bias"}:
        raise ValueError(f"the {net} trunk's state_dict has no features.{index}.weight/bias")
      kernel = np.transpose(convs[index]["weight"], (2, 3, 1, 0))
      value = {"kernel": kernel, "bias": convs[index]["bias"]}
      want = {k: tuple(v.shape) for k, v in shapes.items()}
    else:
      if index not in lins:
        raise ValueError(f"no lin{index}.model.1.weight among the LPIPS lin weights")
      value, want = lins[index], tuple(shapes.shape)
      if np.any(value < 0):
        raise ValueError(f"lin{index} has negative weights; LPIPS v0.1's are >= 0")
    got = jax.tree_util.tree_map(lambda a: tuple(a.shape), value)
    if got != want:
      torch_name = f"lin{index}.model.1.weight" if name.startswith("lin") else f"features.{index}"
      raise ValueError(f"LPIPS {net} {torch_name}: shape {got} (as Flax), expected {want}")
    params[name] = value
  return {"params": params}


def read_state_dict(path: str) -> dict:
  """NumPy arrays of a .pth state_dict (needs torch) or of an .npz of one (what
  `jaxgan convert lpips` writes: torch's keys and layouts, no torch needed to read it)."""
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UsageError(f"LPIPS weights {path!r}: no such file")
  if path.endswith(".npz"):
    with np.load(path) as data:
      return {k: data[k] for k in data.files}
  try:
    import torch
  except ImportError:
    raise UsageError(f"reading {path} needs PyTorch (pip install torch): .pth files are "
                     "torch pickles; or convert it once: jaxgan convert lpips") from None
  sd = torch.load(path, map_location="cpu", weights_only=True)
  sd = sd.get("state_dict", sd)
  return {k: v.float().numpy() for k, v in sd.items() if hasattr(v, "numpy")}


def packaged_lin_path(net: str) -> str | None:
  """The installed `lpips` package's v0.1 lin weights for `net`, or None."""
  import importlib.util
  spec = importlib.util.find_spec("lpips")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = os.path.join(list(spec.submodule_search_locations)[0], "weights", "v0.1", f"{net}.pth")
  return path if os.path.isfile(path) else None


def read(trunk_path: str, lin_path: str | None = None) -> tuple[str, dict]:
  """(net, one state_dict with the trunk's and the lin weights, torch layouts) from a trunk
  file (torchvision's AlexNet or VGG16, a whole lpips module's state_dict, or an .npz of
  `jaxgan convert lpips`) and the lin weights' file (default: the trunk file if it has them,
  else the installed lpips package's). UsageError (one line) for a missing file or a
  state_dict that is not one of these."""
  trunk = read_state_dict(trunk_path)
  try:
    net = infer_net(trunk)
  except ValueError as e:
    raise UsageError(f"{trunk_path}: {e}") from None
  if lin_path is None and not any(_LIN_KEY.match(k) for k in trunk):
    lin_path = packaged_lin_path(net)
    if lin_path is None:
      raise UsageError(f"{trunk_path} holds no LPIPS lin weights: give the lpips package's "
                       f"weights/v0.1/{net}.pth (--lpips-lin) or pip install lpips")
  lin = {} if lin_path is None else read_state_dict(lin_path)
  merged = {k: v for k, v in {**trunk, **lin}.items()
            if _FEATURES_KEY.match(k) or _SLICE_KEY.match(k) or _LIN_KEY.match(k)}
  return net, merged


def load(trunk_path: str, lin_path: str | None = None) -> tuple[str, dict]:
  """(net, Flax variables of LPIPS(net)) from the files `read` takes; UsageError for a
  missing layer or a shape that is not the net's."""
  net, merged = read(trunk_path, lin_path)
  try:
    return net, variables_from_state_dicts(merged, merged, net)
  except ValueError as e:
    raise UsageError(str(e)) from None


def convert(trunk_path: str, lin_path: str | None, out: str) -> str:
  """Writes the trunk and lin weights as one .npz (atomically), readable without torch."""
  if not out.endswith(".npz"):
    raise UsageError(f"--out must name a .npz file, got {out!r}")
  out = os.path.abspath(os.path.expanduser(out))
  if not os.path.isdir(os.path.dirname(out)):
    raise UsageError(f"output folder of {out!r} does not exist")
  net, merged = read(trunk_path, lin_path)
  try:
    variables_from_state_dicts(merged, merged, net)  # refuse to write what load() refuses
  except ValueError as e:
    raise UsageError(str(e)) from None
  tmp = out + ".tmp.npz"
  np.savez(tmp, **merged)
  os.replace(tmp, out)
  return net


class Distance:
  """LPIPS of uint8 or [-1, 1] image batches against their ground truth, jitted once per
  shape: the `lpips` metric of `jaxgan eval` and `upscale --evaluate`."""

  def __init__(self, net: str, variables: dict):
    self.net, self.variables = net, variables

  @classmethod
  def from_files(cls, trunk_path: str, lin_path: str | None = None) -> "Distance":
    return cls(*load(trunk_path, lin_path))

  def __call__(self, outputs8: np.ndarray, truths8: np.ndarray) -> np.ndarray:
    """float64 (N,) distances of uint8 (N, H, W, C) images, as [-1, 1] (x / 127.5 - 1)."""
    check_size(self.net, min(outputs8.shape[1:3]))
    to_unit = lambda a: jnp.asarray(a, jnp.float32) / 127.5 - 1.0
    return np.asarray(distance(self.variables, to_unit(outputs8), to_unit(truths8), self.net),
                      np.float64)


@functools.partial(jax.jit, static_argnames="net")
def distance(variables: Any, x: jax.Array, y: jax.Array, net: str) -> jax.Array:
  """LPIPS(net) distances (B,) between [-1, 1] images, jitted."""
  return LPIPS(net).apply(variables, x, y)
