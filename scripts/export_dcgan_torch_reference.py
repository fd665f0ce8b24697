"""Exports the PyTorch DCGAN tutorial networks' weights and outputs as a test fixture.

The networks are those of pytorch/tutorials beginner_source/dcgan_faces_tutorial.py
(nz=100, 4x4 kernels, stride 2 / padding 1, bias-free convs, BatchNorm, ReLU + Tanh
in G, LeakyReLU(0.2) + Sigmoid in D, weights_init N(0, 0.02) / BN N(1, 0.02), 0),
at 64x64x3 with a reduced width (ngf = ndf = 4) to keep the fixture small.

  pip install torch && python scripts/export_dcgan_torch_reference.py

writes tests/fixtures/dcgan_torch_reference.npz, read by tests/test_torch_equivalence.py.
"""

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks.torch_dcgan import TutorialDiscriminator, TutorialGenerator, weights_init  # noqa: E402


def _randomise_running_stats(net, gen):
  # Non-trivial running statistics, so the eval-mode check is not an identity check.
  for m in net.modules():
    if isinstance(m, nn.BatchNorm2d):
      m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
      m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)


def export(path: str, width: int = 4, batch: int = 2, seed: int = 0) -> None:
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed + 1)
  g, d = TutorialGenerator(ngf=width), TutorialDiscriminator(ndf=width)
  g.apply(weights_init)
  d.apply(weights_init)
  z = torch.randn(batch, 100, 1, 1, generator=gen)
  x = torch.rand(batch, 3, 64, 64, generator=gen) * 2 - 1
  out = {"z": z.numpy()[:, :, 0, 0], "x": x.numpy().transpose(0, 2, 3, 1)}
  with torch.no_grad():
    _randomise_running_stats(g, gen)
    _randomise_running_stats(d, gen)
    for prefix, net in (("g", g), ("d", d)):
      for name, value in net.state_dict().items():
        out[f"{prefix}/{name}"] = value.numpy().copy()  # not a view: BN updates in place
    g.eval(), d.eval()
    out["g_eval"] = g(z).numpy().transpose(0, 2, 3, 1)
    out["d_eval_logits"] = d.logits(x).numpy()
    g.train(), d.train()
    out["g_train"] = g(z).numpy().transpose(0, 2, 3, 1)
    out["d_train_logits"] = d.logits(x).numpy()
    out["d_train_probs"] = d(x).numpy().reshape(-1)
    # Running statistics after the train-mode passes (D saw x twice, G saw z once).
    for prefix, net in (("g", g), ("d", d)):
      for name, value in net.state_dict().items():
        if "running" in name:
          out[f"{prefix}_after/{name}"] = value.numpy().copy()
  out["width"] = np.array(width)
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, torch {torch.__version__})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "dcgan_torch_reference.npz"))
  parser.add_argument("--width", type=int, default=4)
  args = parser.parse_args()
  export(os.path.normpath(args.out), width=args.width)
