"""Exports pix2pix's PyTorch networks' weights, outputs and one training step as a fixture.

The networks and step are benchmarks/torch_pix2pix.py (the authors' UnetGenerator,
NLayerDiscriminator n_layers=3, init 'normal' 0.02, optimize_parameters with lambda_L1 100,
Adam 2e-4 / (0.5, 0.999)), at 64x64 (num_downs 6), ngf = ndf = 4, 3 -> 3 channels, batch 2,
without dropout (its random masks cannot be matched across frameworks).

  pip install torch && python scripts/export_pix2pix_torch_reference.py

writes tests/fixtures/pix2pix_torch_reference.npz, read by tests/test_pix2pix_torch.py.
Images are NHWC (ours), state_dict entries as torch stores them. Keys:

  a, b                   (2, 64, 64, 3) input / target images, k / 128 - 1 for 8-bit k
  g/<key>, d/<key>       BatchNorm G and D state_dicts (D input 6 channels): the seeded
                         init rounded to multiples of 2^-10, conv biases, BN shifts and
                         running stats random (so that they are checked; eval mode is not
                         an identity)
  g_eval, g_train        G(a) in eval / train mode (eval first: train updates the stats)
  d_eval_logits, d_train_logits   D(cat(a, b)) flattened per sample, (2, 36)
  g_after/<key>, d_after/<key>    running_mean / running_var after the one train-mode
                         forward of each (G saw a, D saw cat(a, b))
  step/d_loss, step/g_loss   losses of make_trainer's step(a, b) from the g/, d/ state
  step_g/<key>, step_d/<key> G's and D's full state_dicts after that step (parameters and
                         running stats: G ran once in train mode, D three times: fake pair,
                         real pair, then the fake pair through the updated D)
  gi/<key>, di/<key>     InstanceNorm variant's state_dicts (no norm entries; every conv
                         biased) at 32x32 (num_downs 5), to keep the fixture small
  gi_out, di_logits      its G(a2) and D(cat(a2, b2)), (2, 32, 32, 3) and (2, 4), where
                         a2 = a[:, ::2, ::2], b2 = b[:, ::2, ::2] (train and eval mode agree)
  count/{g,d}256_{batch,instance}  torch parameter counts of unet_256 (ngf 64, 3 -> 3) and
                         the basic D (ndf 64, 6 input channels)
  width, lambda_l1, lr, beta1      the settings above
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks.torch_pix2pix import (NLayerDiscriminator, UnetGenerator, init_weights,  # noqa: E402
                                      make_trainer)

SIZE, DOWNS = 64, 6
LAMBDA_L1, LR, BETA1 = 100.0, 2e-4, 0.5


def _nets(width, norm, downs=DOWNS):
  return (init_weights(UnetGenerator(3, 3, downs, width, norm=norm)),
          init_weights(NLayerDiscriminator(6, width, 3, norm=norm)))


def _grid(x, step=2.0 ** -10):
  # Values on a coarse dyadic grid: the state_dicts before the step then compress well
  # (the fixture stays < 1 MiB) and are exactly the same numbers in float32 on both sides.
  return torch.round(x / step) * step


def _perturb(net, gen):
  """The seeded init on a grid; biases, BatchNorm shifts and running statistics random
  rather than 0 / 1, so that their import and the eval mode are really checked."""
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
        m.weight.copy_(_grid(m.weight))
        if m.bias is not None:
          m.bias.copy_(_grid(torch.randn(m.bias.shape, generator=gen) * 0.02))
      if isinstance(m, nn.BatchNorm2d):
        m.running_mean.copy_(_grid(torch.randn(m.num_features, generator=gen) * 0.1))
        m.running_var.copy_(_grid(torch.rand(m.num_features, generator=gen) + 0.5))
  return net


def _state(out, prefix, net, only_running=False):
  for name, value in net.state_dict().items():
    if not only_running or "running" in name:
      out[f"{prefix}/{name}"] = value.detach().numpy().copy()  # not a view: BN updates in place


def _nhwc(x):
  return x.detach().numpy().transpose(0, 2, 3, 1)


def _count(net):
  return np.array(sum(p.numel() for p in net.parameters()))


def export(path: str, width: int = 4, batch: int = 2, seed: int = 0) -> None:
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed + 1)
  g, d = _nets(width, "batch")
  # 8-bit images, as real ones are (and they compress)
  a = torch.randint(0, 256, (batch, 3, SIZE, SIZE), generator=gen) / 128.0 - 1
  b = torch.randint(0, 256, (batch, 3, SIZE, SIZE), generator=gen) / 128.0 - 1
  ab = torch.cat([a, b], 1)
  out = {"a": _nhwc(a), "b": _nhwc(b)}
  _perturb(g, gen)
  _perturb(d, gen)
  _state(out, "g", g)
  _state(out, "d", d)
  # The step starts from the same state as the forward checks; copies keep them apart.
  g_step, d_step = copy.deepcopy(g), copy.deepcopy(d)
  with torch.no_grad():
    g.eval(), d.eval()
    out["g_eval"] = _nhwc(g(a))
    out["d_eval_logits"] = d(ab).flatten(1).numpy()
    g.train(), d.train()
    out["g_train"] = _nhwc(g(a))
    out["d_train_logits"] = d(ab).flatten(1).numpy()
  _state(out, "g_after", g, only_running=True)
  _state(out, "d_after", d, only_running=True)

  step = make_trainer(g_step, d_step, device=torch.device("cpu"), lambda_l1=LAMBDA_L1, lr=LR,
                      beta1=BETA1)
  d_loss, g_loss = step(a, b)
  out["step/d_loss"], out["step/g_loss"] = d_loss.numpy(), g_loss.numpy()
  _state(out, "step_g", g_step)
  _state(out, "step_d", d_step)

  # 32x32 (num_downs 5, no 8w middle level): half the fixture bytes of 64x64 for a path
  # that shares everything but the norm with the one above.
  gi, di = (_perturb(net, gen) for net in _nets(width, "instance", DOWNS - 1))
  _state(out, "gi", gi)
  _state(out, "di", di)
  with torch.no_grad():
    out["gi_out"] = _nhwc(gi(a[:, :, ::2, ::2]))
    out["di_logits"] = di(ab[:, :, ::2, ::2]).flatten(1).numpy()

  for norm in ("batch", "instance"):  # the full-size nets, for parameter counts only
    out[f"count/g256_{norm}"] = _count(UnetGenerator(3, 3, 8, 64, norm=norm, use_dropout=True))
    out[f"count/d256_{norm}"] = _count(NLayerDiscriminator(6, 64, 3, norm=norm))
  out.update(width=np.array(width), lambda_l1=np.array(LAMBDA_L1), lr=np.array(LR),
             beta1=np.array(BETA1))
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(out)} arrays, "
        f"torch {torch.__version__})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "pix2pix_torch_reference.npz"))
  parser.add_argument("--width", type=int, default=4)
  args = parser.parse_args()
  export(os.path.normpath(args.out), width=args.width)
