"""Exports CycleGAN's PyTorch networks' weights, outputs and one training step as a fixture.

The networks and step are benchmarks/torch_cyclegan.py (the authors' ResnetGenerator with
InstanceNorm, padding 'reflect', no dropout; NLayerDiscriminator n_layers=3 with
InstanceNorm; init 'normal' 0.02; optimize_parameters with gan_mode 'lsgan', lambda_A =
lambda_B = 10, lambda_identity 0.5, Adam 2e-4 / (0.5, 0.999)) at 32x32, ngf = ndf = 4,
2 residual blocks, 3 -> 3 channels, batch 2. The step runs with pool_size 0, so the
image pools hand D the step's own fakes and nothing in it is random.

  pip install torch && python scripts/export_cyclegan_torch_reference.py

writes tests/fixtures/cyclegan_torch_reference.npz, read by tests/test_cyclegan_torch.py.
Images are NHWC (ours), state_dict entries as torch stores them. Keys:

  a, b                   (2, 32, 32, 3) images of domain A / B, k / 128 - 1 for 8-bit k
  g_a/<key>, g_b/<key>   netG_A (A -> B) and netG_B (B -> A) state_dicts: the seeded init
                         rounded to multiples of 2^-10, every conv bias random (non-zero)
  d_a/<key>, d_b/<key>   netD_A (judges B) and netD_B (judges A), 3 input channels, same
  g_a_out, g_b_out       G_A(a), G_B(b), (2, 32, 32, 3) (InstanceNorm without running
                         statistics: train and eval mode agree)
  d_a_logits, d_b_logits D_A(b), D_B(a) flattened per sample, (2, 4)
  step/d_loss            loss_D_A + loss_D_B of make_trainer's step(a, b) from the
                         g_a/ g_b/ d_a/ d_b/ state
  step/g_loss            the whole G objective (the sum of the six G terms below)
  step/loss_<name>       the separate terms, named as the reference's loss_names: G_A,
                         G_B (LSGAN, D frozen), cycle_A, cycle_B (L1 * lambda), idt_A
                         (|G_A(b) - b| * lambda_B * lambda_identity), idt_B, D_A, D_B
                         (0.5 * (MSE(D(real), 1) + MSE(D(fake), 0)))
  step_g_a/<key>, step_g_b/<key>, step_d_a/<key>, step_d_b/<key>
                         the four state_dicts after that step. Order within it: G's
                         update first (one Adam over G_A and G_B, through the Ds before
                         their update), then the Ds' (one Adam over D_A and D_B) on the
                         fakes G made before its update
  count/g256, count/d256 torch parameter counts of resnet_9blocks (ngf 64, 3 -> 3) and the
                         basic InstanceNorm D (ndf 64, 3 input channels)
  width, n_blocks, lambda_a, lambda_b, lambda_identity, lr, beta1, pool_size
                         the settings above
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks.torch_cyclegan import (NLayerDiscriminator, ResnetGenerator,  # noqa: E402
                                       init_weights, make_trainer)

SIZE, BLOCKS = 32, 2
LAMBDA_A, LAMBDA_B, LAMBDA_IDT, LR, BETA1, POOL = 10.0, 10.0, 0.5, 2e-4, 0.5, 0
TERMS = ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B")


def _grid(x, step=2.0 ** -10):
  # A coarse dyadic grid: the starting state_dicts compress well (the fixture stays
  # < 1 MiB) and are exactly the same numbers in float32 on both sides.
  return torch.round(x / step) * step


def _perturb(net, gen):
  """The seeded init on the grid, conv biases random rather than 0 so that their import
  is really checked (those before an InstanceNorm cancel in the output; the D's first and
  last and G's head bias do not)."""
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        m.weight.copy_(_grid(m.weight))
        if m.bias is not None:
          m.bias.copy_(_grid(torch.randn(m.bias.shape, generator=gen) * 0.02))
  return net


def _state(out, prefix, net):
  for name, value in net.state_dict().items():
    out[f"{prefix}/{name}"] = value.detach().numpy().copy()


def _nhwc(x):
  return x.detach().numpy().transpose(0, 2, 3, 1)


def _count(net):
  return np.array(sum(p.numel() for p in net.parameters()))


def export(path: str, width: int = 4, batch: int = 2, seed: int = 0) -> None:
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed + 1)
  g = lambda: init_weights(ResnetGenerator(3, 3, width, norm="instance", n_blocks=BLOCKS))
  d = lambda: init_weights(NLayerDiscriminator(3, width, 3, norm="instance"))
  nets = {"g_a": g(), "g_b": g(), "d_a": d(), "d_b": d()}
  a = torch.randint(0, 256, (batch, 3, SIZE, SIZE), generator=gen) / 128.0 - 1
  b = torch.randint(0, 256, (batch, 3, SIZE, SIZE), generator=gen) / 128.0 - 1
  out = {"a": _nhwc(a), "b": _nhwc(b)}
  for name, net in nets.items():
    _state(out, name, _perturb(net, gen))
  with torch.no_grad():
    out["g_a_out"] = _nhwc(nets["g_a"](a))
    out["g_b_out"] = _nhwc(nets["g_b"](b))
    out["d_a_logits"] = nets["d_a"](b).flatten(1).numpy()
    out["d_b_logits"] = nets["d_b"](a).flatten(1).numpy()

  stepped = copy.deepcopy(nets)  # the step starts from the state the forward checks used
  step = make_trainer(stepped["g_a"], stepped["g_b"], stepped["d_a"], stepped["d_b"],
                      device=torch.device("cpu"), lambda_a=LAMBDA_A, lambda_b=LAMBDA_B,
                      lambda_identity=LAMBDA_IDT, pool_size=POOL, lr=LR, beta1=BETA1)
  d_loss, g_loss = step(a, b)
  out["step/d_loss"], out["step/g_loss"] = d_loss.numpy(), g_loss.numpy()
  for name in TERMS:
    out[f"step/loss_{name}"] = step.terms[name].numpy()
  for name, net in stepped.items():
    _state(out, f"step_{name}", net)

  out["count/g256"] = _count(ResnetGenerator(3, 3, 64, norm="instance", n_blocks=9))
  out["count/d256"] = _count(NLayerDiscriminator(3, 64, 3, norm="instance"))
  out.update(width=np.array(width), n_blocks=np.array(BLOCKS), lambda_a=np.array(LAMBDA_A),
             lambda_b=np.array(LAMBDA_B), lambda_identity=np.array(LAMBDA_IDT),
             lr=np.array(LR), beta1=np.array(BETA1), pool_size=np.array(POOL))
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(out)} arrays, "
        f"torch {torch.__version__})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "cyclegan_torch_reference.npz"))
  parser.add_argument("--width", type=int, default=4)
  args = parser.parse_args()
  export(os.path.normpath(args.out), width=args.width)
