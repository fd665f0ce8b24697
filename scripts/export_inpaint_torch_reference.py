"""Exports DeepFill v2's PyTorch networks' weights, outputs and one training step as a fixture.

The networks and step are benchmarks/torch_inpaint.py (the nipponjo/deepfillv2-pytorch
module tree; the port's training iteration, hinge loss, l1 and gan weights 1, Adam 1e-4 /
(0.5, 0.999)), at 64x64, cnum 4 (G) and 4 (D), 3 channels, batch 2, one mask shared by
the batch (the port's contextual attention reads the first example's mask).

  pip install torch && python scripts/export_inpaint_torch_reference.py

writes tests/fixtures/inpaint_torch_reference.npz, read by tests/test_inpaint_torch.py.
Images are NHWC (ours), state_dict entries as torch stores them. Keys:

  image, mask            (2, 64, 64, 3) images k / 128 - 1 for 8-bit k; (2, 64, 64, 1)
                         a rectangular hole and a stroke, 1 = hole
  g/<key>, d/<key>       G and D state_dicts: the seeded init times 2 (so that activations
                         survive the gated depth) on a 2^-10 grid, biases random; D's
                         weight_u / weight_v after one train-mode forward (consistent)
  coarse, refined        G's two outputs (NHWC)
  d_eval_logits, d_train_logits   D(cat(image, mask)) in eval mode, then train mode
  d_after/<key>          D's weight_u / weight_v after that train-mode forward
  ca/f, ca/mask, ca/out  contextual attention alone: features (2, 16, 16, 8), the mask,
                         its output (NHWC)
  step/d_loss, step/g_loss   the losses of make_trainer's step(image, mask)
  step_g/<key>, step_d/<key> the state_dicts after it
  count/g, count/d       parameter counts of the full-size G (cnum 48, 5 -> 3) and D
                         (cnum 64, 4 input channels)
  width, d_width, lr, beta1      the settings above
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks.torch_inpaint import (ContextualAttention, Discriminator, Generator,  # noqa: E402
                                      generator_input, make_trainer)

SIZE, LR, BETA1 = 64, 1e-4, 0.5


def _grid(x, step=2.0 ** -10):
  return torch.round(x / step) * step


def _perturb(net, gen):
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, nn.Conv2d):
        m.weight.copy_(_grid(2.0 * m.weight))
        m.bias.copy_(_grid(torch.randn(m.bias.shape, generator=gen) * 0.05))
  return net


def _state(out, prefix, net, only=None):
  for name, value in net.state_dict().items():
    if only is None or name.endswith(only):
      out[f"{prefix}/{name}"] = value.detach().numpy().copy()


def _nhwc(x):
  return x.detach().numpy().transpose(0, 2, 3, 1)


def _count(net):
  return np.array(sum(p.numel() for p in net.parameters()))


def make_mask(batch, size=SIZE):
  m = torch.zeros(1, 1, size, size)
  m[..., 16:40, 12:44] = 1                       # a box
  for i in range(size):                          # a diagonal stroke, 3 pixels wide
    m[..., i, max(0, i - 1):i + 2] = 1
  return m.repeat(batch, 1, 1, 1)


def export(path: str, width: int = 4, d_width: int = 4, batch: int = 2, seed: int = 0) -> None:
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed + 1)
  g = _perturb(Generator(5, 3, width), gen)
  d = _perturb(Discriminator(4, d_width), gen)
  image = torch.randint(0, 256, (batch, 3, SIZE, SIZE), generator=gen) / 128.0 - 1
  mask = make_mask(batch)
  xd = torch.cat([image, mask], 1)
  with torch.no_grad():
    d.train()
    d(xd)   # u and v consistent with the weights, as in a trained D
  out = {"image": _nhwc(image), "mask": _nhwc(mask)}
  _state(out, "g", g)
  _state(out, "d", d)
  g_step, d_step = copy.deepcopy(g), copy.deepcopy(d)
  with torch.no_grad():
    coarse, refined = g(generator_input(image, mask), mask)
    out["coarse"], out["refined"] = _nhwc(coarse), _nhwc(refined)
    d.eval()
    out["d_eval_logits"] = d(xd).numpy()
    d.train()
    out["d_train_logits"] = d(xd).numpy()
  _state(out, "d_after", d, only=("weight_u", "weight_v"))

  ca = ContextualAttention(ksize=3, stride=1, rate=2, fuse_k=3, softmax_scale=10, fuse=True,
                           n_down=2)
  f = torch.randn(batch, 8, SIZE // 4, SIZE // 4, generator=gen)
  with torch.no_grad():
    out["ca/out"] = _nhwc(ca(f, f, mask)[0])
  out["ca/f"] = _nhwc(f)

  step = make_trainer(g_step, d_step, device=torch.device("cpu"), lr=LR, beta1=BETA1)
  d_loss, g_loss = step(image, mask)
  out["step/d_loss"], out["step/g_loss"] = d_loss.numpy(), g_loss.numpy()
  _state(out, "step_g", g_step)
  _state(out, "step_d", d_step)

  out["count/g"] = _count(Generator(5, 3, 48))
  out["count/d"] = _count(Discriminator(4, 64))
  out.update(width=np.array(width), d_width=np.array(d_width), lr=np.array(LR),
             beta1=np.array(BETA1))
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(out)} arrays, "
        f"torch {torch.__version__})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "inpaint_torch_reference.npz"))
  args = parser.parse_args()
  export(os.path.normpath(args.out))
