"""pytorch-fid's Inception state_dict (pt_inception-2015-12-05-6726825d.pth) -> jaxgan's .npz.

The core, `variables_from_torch`, maps a dict of NumPy arrays in PyTorch's naming onto the
Flax variables of jaxgan.models.inception.InceptionV3, so tests run it without torch;
only `convert_pth` imports torch, to read the .pth. Names carry over one to one:

  X.conv.weight (out, in, kh, kw)  -> params/X/conv/kernel (kh, kw, in, out)
  X.bn.weight, X.bn.bias           -> params/X/bn/scale, params/X/bn/bias
  X.bn.running_mean, running_var   -> batch_stats/X/bn/mean, batch_stats/X/bn/var
  fc.weight (1008, 2048), fc.bias  -> params/fc/kernel (2048, 1008), params/fc/bias

`random_torch_state_dict(seed)` makes deterministic stand-in weights in that naming for
equivalence tests (the real weights cannot be shipped in the repository).
"""

import hashlib
import os

import numpy as np

from jaxgan.errors import UsageError
from jaxgan.models import inception

# The sha256 prefix PyTorch hub files carry in their names; the real file's digest starts so.
EXPECTED_SHA256_PREFIX = "6726825d"
_BN_FIELDS = {("params", "scale"): "weight", ("params", "bias"): "bias",
              ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var"}


def torch_name(flax_name: str) -> str:
  """'params/Mixed_5b/branch1x1/conv/kernel' -> 'Mixed_5b.branch1x1.conv.weight'."""
  collection, *path, leaf = flax_name.split("/")
  if path[-1] == "bn":
    return ".".join(path + [_BN_FIELDS[collection, leaf]])
  return ".".join(path + ["weight" if leaf == "kernel" else leaf])


def _to_flax(value: np.ndarray) -> np.ndarray:
  value = np.asarray(value, np.float32)
  if value.ndim == 4:          # (out, in, kh, kw) -> (kh, kw, in, out)
    return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
  if value.ndim == 2:          # Linear (out, in) -> (in, out)
    return np.ascontiguousarray(value.T)
  return value


def _to_torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
  if len(shape) == 4:
    kh, kw, cin, cout = shape
    return (cout, cin, kh, kw)
  return tuple(reversed(shape)) if len(shape) == 2 else shape


def torch_state_dict_shapes() -> dict[str, tuple[int, ...]]:
  """{torch name: torch shape} of every tensor the network reads, in network order."""
  return {torch_name(k): _to_torch_shape(s) for k, s in inception.variable_shapes().items()}


def variables_from_torch(state_dict: dict) -> dict:
  """NumPy state_dict (pytorch-fid naming) -> {"params", "batch_stats"} float32 NumPy arrays.

  Every tensor the network needs must be present with its PyTorch shape; BatchNorm's
  num_batches_tracked counters are ignored; anything else raises UsageError.
  """
  flat, used = {}, set()
  problems = []
  for name, shape in inception.variable_shapes().items():
    key = torch_name(name)
    if key not in state_dict:
      problems.append(f"missing {key}")
      continue
    value = np.asarray(state_dict[key])
    if value.shape != _to_torch_shape(shape):
      problems.append(f"{key} has shape {value.shape}, expected {_to_torch_shape(shape)}")
      continue
    flat[name] = _to_flax(value)
    used.add(key)
  extra = sorted(k for k in state_dict if k not in used and not k.endswith("num_batches_tracked"))
  problems += [f"unexpected {k}" for k in extra]
  if problems:
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise UsageError("not pytorch-fid's FID Inception state_dict: "
                     + "; ".join(problems[:5]) + more)
  return inception.unflatten(flat)


def save_variables(variables: dict, path: str, *, source_sha256: str = "") -> None:
  """Writes `variables` as jaxgan's Inception .npz (atomically: a partial file never stays)."""
  from flax import traverse_util
  flat = {k: np.asarray(v, np.float32)
          for k, v in traverse_util.flatten_dict(variables, sep="/").items()}
  inception.check_variables(flat, "the converted tree")
  flat[inception.FORMAT_KEY] = np.array(inception.FORMAT)
  flat[inception.SOURCE_KEY] = np.array(source_sha256)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "wb") as f:
      np.savez(f, **flat)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def convert_pth(pth: str, out: str | None = None) -> tuple[str, str]:
  """Converts pytorch-fid's .pth to jaxgan's .npz; returns (output path, the .pth's sha256).

  The caller decides what to say when the digest does not start with
  EXPECTED_SHA256_PREFIX (a re-saved copy can hold the same tensors).
  """
  pth = os.path.expanduser(pth)
  if not os.path.isfile(pth):
    raise UsageError(f"no such file: {pth}; download it from {inception.PTH_URL}")
  out = os.path.expanduser(out) if out else inception.default_weights_path()
  if not out.endswith(".npz"):
    raise UsageError(f"--out must name a .npz file, got {out!r}")
  try:
    import torch
  except ImportError as e:
    raise UsageError("reading a .pth needs PyTorch (the CPU build is enough): "
                     "pip install torch") from e
  try:
    state = torch.load(pth, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises assorted types for a corrupt or foreign file
    raise UsageError(f"cannot read {pth} as a PyTorch state_dict: {e}") from e
  if not isinstance(state, dict):
    raise UsageError(f"{pth} holds a {type(state).__name__}, not a state_dict")
  arrays = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "numpy")}
  digest = sha256_of(pth)
  save_variables(variables_from_torch(arrays), out, source_sha256=digest)
  return out, digest


# --- Stand-in weights for equivalence tests -----------------------------------------------------


def random_torch_state_dict(seed: int) -> dict[str, np.ndarray]:
  """Deterministic random weights in pytorch-fid's naming, float32, from NumPy alone.

  He-scaled convolutions (zero mean per filter, so a filter's response does not carry the
  mean of its ReLU input) and BatchNorm statistics near the resulting activation scale keep
  activations O(1) and ~half of the ReLUs active through all 94 layers, so the pool3
  features and logits compared in tests are far from degenerate. The same seed gives the
  same bits on every platform (NumPy's PCG64 stream, float64 draws cast to float32).
  """
  rng = np.random.default_rng(seed)
  out = {}
  for key, shape in torch_state_dict_shapes().items():
    field = key.rsplit(".", 1)[1]
    if key.endswith(".conv.weight"):
      fan_in = int(np.prod(shape[1:]))
      w = rng.standard_normal(shape)
      w -= w.mean(axis=(1, 2, 3), keepdims=True)
      value = w * np.sqrt(2.0 / fan_in)
    elif key == "fc.weight":
      value = rng.standard_normal(shape) / np.sqrt(shape[1])
    elif key == "fc.bias":
      value = 0.1 * rng.standard_normal(shape)
    elif field == "weight":               # BatchNorm scale
      value = rng.uniform(0.6, 1.4, shape)
    elif field == "bias":                 # BatchNorm shift
      value = 0.2 * rng.standard_normal(shape)
    elif field == "running_mean":
      value = 0.2 * rng.standard_normal(shape)
    else:                                 # running_var
      value = rng.uniform(0.5, 1.5, shape)
    out[key] = value.astype(np.float32)
  return out


def fingerprint(state_dict: dict[str, np.ndarray]) -> str:
  """sha256 over names and float32 bytes: proves two runs built the same weights."""
  digest = hashlib.sha256()
  for key in sorted(state_dict):
    digest.update(key.encode())
    digest.update(np.ascontiguousarray(state_dict[key], np.float32).tobytes())
  return digest.hexdigest()
