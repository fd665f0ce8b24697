"""What a fresh run takes from outside before its first step: a generator trained by
another run (config.init_generator_from), and the frozen VGG19 of the SR perceptual loss
(superres.perceptual_weights, read with torch; then carried in the run's checkpoints).

SRGAN and ESRGAN train in two phases, as their papers do: a PSNR-oriented generator
first (SRResNet with MSE; RRDBNet with L1), then the GAN initialised from it. Phase 2's
config names phase 1's workdir in `init_generator_from`; its generator's parameters
(the EMA ones when that run kept them) replace the random ones of the fresh state,
its optimizer starting afresh as the papers' do. A resumed run never re-reads them:
they are in its checkpoints.

Everything is read and checked by `load` before the run writes anything, so a wrong
path or a generator of another shape costs no files.
"""

import os

import jax
import numpy as np

from jaxgan.errors import UsageError
from jaxgan.train.state import GANState, sampling_params


def _shapes(tree) -> dict:
  return {jax.tree_util.keystr(p): np.shape(x) for p, x in jax.tree_util.tree_leaves_with_path(tree)}


def _generator_from_run(path: str, expected) -> dict:
  """The generator variables {'params', 'batch_stats'} of the run in `path`, checked to
  have `expected`'s structure and shapes."""
  from jaxgan.generate import load_run
  workdir = os.path.abspath(os.path.expanduser(path))
  try:
    _, _, state = load_run(workdir)
  except UsageError as e:
    raise UsageError(f"init_generator_from: {e}") from None
  params = jax.device_get(sampling_params(state))
  stats = jax.device_get(state.g.batch_stats)
  want, have = _shapes(expected), _shapes({"params": params, "batch_stats": stats})
  if want != have:
    diff = sorted(set(want.items()) ^ set(have.items()))
    raise UsageError(f"init_generator_from={path!r}: that run's generator differs from this "
                     f"config's (first difference: {diff[0][0]} {diff[0][1]}); it must be the "
                     "same network")
  return {"params": params, "batch_stats": stats}


def _perceptual_weights(config, expected) -> dict:
  """The VGG19 of the SR perceptual loss from superres.perceptual_weights (torchvision's
  vgg19-dcbb9e9d.pth), cut at superres.perceptual_layer."""
  group = config.get("superres") or {}
  path = os.path.expanduser(group.get("perceptual_weights", "") or "")
  if not path:
    raise UsageError("superres.perceptual_weight > 0 needs superres.perceptual_weights: "
                     "torchvision's ImageNet VGG19 file (vgg19-dcbb9e9d.pth); a VGG with "
                     "random weights measures nothing")
  variables = read_vgg19(path, group.get("perceptual_layer"), "superres.perceptual_weights")
  if _shapes(variables) != _shapes(expected):
    raise UsageError(f"superres.perceptual_weights {path!r} is not torchvision's VGG19 "
                     "(its layers' shapes differ)")
  return variables


def read_vgg19(path: str, layer: str, what: str) -> dict:
  """VGG19Features(layer) variables from torchvision's file at `path`; every failure is
  one UsageError line naming `what` (the setting or flag that gave the path)."""
  from jaxgan.models import vgg
  if not os.path.isfile(path):
    raise UsageError(f"{what} {path!r} does not exist")
  try:
    return vgg.load_torchvision_vgg19(path, layer)
  except ImportError as e:
    raise UsageError(str(e)) from None
  except Exception as e:  # not a torch file, not a VGG19: one line
    raise UsageError(f"{what} {path!r}: {type(e).__name__}: "
                     f"{str(e).splitlines()[0] if str(e) else ''}") from None


def load(config, abstract_state, gan) -> dict:
  """What to put into a fresh state ({} when nothing): read now, before any write.
  `abstract_state()` gives the state's shapes (traced only when something is loaded)."""
  out = {}
  path = config.get("init_generator_from", "")
  o = gan.superres
  perceptual = o is not None and o.perceptual_layer and o.perceptual_weight > 0
  if not path and not perceptual:
    return out
  abstract = abstract_state()
  if path:
    out["generator"] = _generator_from_run(
        path, {"params": abstract.g.params, "batch_stats": abstract.g.batch_stats})
  if perceptual:
    out["perceptual"] = _perceptual_weights(config, abstract.extras["perceptual"])
  return out


def apply(state: GANState, loaded: dict, place) -> GANState:
  """`state` with `loaded` put in; `place(host_tree)` puts host arrays where the state's
  live (replicated over the mesh)."""
  if "generator" in loaded:
    g = loaded["generator"]
    state = state.replace(g=state.g.replace(params=place(g["params"]),
                                            batch_stats=place(g["batch_stats"])))
    if state.g_ema:  # the average starts at the loaded generator, not at random weights
      state = state.replace(g_ema=place(g["params"]))
  if "perceptual" in loaded:
    state = state.replace(extras={**state.extras, "perceptual": place(loaded["perceptual"])})
  return state
