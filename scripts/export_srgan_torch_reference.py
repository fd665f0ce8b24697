"""Exports SRGAN's and ESRGAN's PyTorch networks' weights, outputs and one training step
each as a fixture.

The networks and steps are benchmarks/torch_srgan.py (SRResNet + SRGAN D per the paper;
BasicSR's RRDBNet, VGGStyleDiscriminator and VGG19 features; its SRGANModel /
ESRGANModel optimize_parameters), shrunk: SRResNet width 4, 2 blocks, x4 from 6x6 LR;
SRGAN D width 4, dense 16, 24x24; RRDBNet num_feat 8, 1 block, growth 4, x4 from 32x32 LR;
VGGStyleDiscriminator num_feat 2 at 128; VGG19 at 1/16 of its widths; batch 2.

  pip install torch && python scripts/export_srgan_torch_reference.py

writes tests/fixtures/srgan_torch_reference.npz, read by tests/test_srgan_torch.py. Images
are NHWC (ours) in OUR range, [-1, 1], as uint8 codes k (image = k / 127.5 - 1); the torch
side sees each network's own range (SRResNet's LR and BasicSR's networks: (x + 1) / 2).
State_dict entries as torch stores them. Keys:

  lr_s, hr_s               SRGAN LR (2, 6, 6, 3) / HR (2, 24, 24, 3) codes
  lr_e, hr_e               ESRGAN LR (2, 32, 32, 3) / HR (2, 128, 128, 3) codes
  sg/, sd/, eg/, ed/, vgg/<key>   state_dicts of SRResNet, SRGAN D, RRDBNet,
                           VGGStyleDiscriminator, VGG19 features (to conv5_4): the seeded init
                           rounded to multiples of 2^-10 (biases, BN shifts, running stats and
                           PReLU slopes random so that their import is checked)
  sg_eval, sg_train        SRResNet(lr_s), HR in [-1, 1] (eval first)
  sd_eval, sd_train        SRGAN D(hr_s) logits (2,)
  eg_out                   RRDBNet(lr_e[:, :16, :16]) mapped to [-1, 1]: (2, 64, 64, 3)
  ed_eval, ed_train        VGGStyleDiscriminator(hr_e) logits (2,)
  vgg_conv5_4, vgg_relu5_4 VGG features of hr_s, NHWC
  sg_after/, sd_after/, ed_after/   running stats after the one train-mode forward
  srgan/d_loss, srgan/g_loss, srgan/terms/<name>   make_trainer(mode="srgan") on (lr_s, hr_s)
  srgan_g/, srgan_d/       SRResNet's and SRGAN D's state_dicts after that step
  esrgan/..., esrgan_g/, esrgan_d/   the same for mode="esrgan" on (lr_e, hr_e)
  count/srresnet, count/srgan_d96, count/rrdbnet_x4, count/vgg_d128, count/vgg19_conv5_4
                           full-size torch parameter counts
  settings/<name>          the step settings below (torch-side weights)
"""

import argparse
import copy
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchmarks import torch_srgan as ts  # noqa: E402

SRGAN = dict(mode="srgan", pixel_loss="mse", pixel_weight=1.0, perceptual_criterion="mse",
             perceptual_weight=0.006, adv_weight=1e-3, lr=1e-4, betas=(0.9, 0.999))
# BasicSR's train_ESRGAN_x4.yml (on [0, 1] images)
ESRGAN = dict(mode="esrgan", pixel_loss="l1", pixel_weight=1e-2, perceptual_criterion="l1",
              perceptual_weight=1.0, adv_weight=5e-3, lr=1e-4, betas=(0.9, 0.99))
VGG_DIV = 16


def _grid(x, step=2.0 ** -10):
  return torch.round(x / step) * step


def _perturb(net, gen):
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.PReLU)):
        m.weight.copy_(_grid(m.weight))
        if isinstance(m, nn.PReLU):
          m.weight.copy_(_grid(0.25 + 0.1 * torch.randn(m.weight.shape, generator=gen)))
        if getattr(m, "bias", None) is not None:
          m.bias.copy_(_grid(torch.randn(m.bias.shape, generator=gen) * 0.02))
      if isinstance(m, nn.BatchNorm2d):
        m.weight.copy_(_grid(1 + 0.1 * torch.randn(m.num_features, generator=gen)))
        m.running_mean.copy_(_grid(torch.randn(m.num_features, generator=gen) * 0.1))
        m.running_var.copy_(_grid(torch.rand(m.num_features, generator=gen) + 0.5))
  return net


def _state(out, prefix, net, only_running=False):
  for name, value in net.state_dict().items():
    if not only_running or "running" in name:
      out[f"{prefix}/{name}"] = value.detach().numpy().copy()


def _nhwc(x):
  return x.detach().numpy().transpose(0, 2, 3, 1)


def _count(net):
  return np.array(sum(p.numel() for p in net.parameters()))


def _codes(gen, shape):
  return torch.randint(0, 256, shape, generator=gen).to(torch.uint8)


def _img(codes):  # our [-1, 1] range, NCHW float
  return codes.float() / 127.5 - 1


def _forwards(out, name, net, x, post=lambda t: t):
  with torch.no_grad():
    net.eval()
    out[f"{name}_eval"] = post(net(x))
    net.train()
    out[f"{name}_train"] = post(net(x))


def _step(out, name, g, d, vgg, lq, gt, settings):
  step = ts.make_trainer(g, d, vgg, device=torch.device("cpu"), **settings)
  d_loss, g_loss = step(lq, gt)
  out[f"{name}/d_loss"], out[f"{name}/g_loss"] = d_loss.numpy(), g_loss.numpy()
  for k, v in step.terms.items():
    out[f"{name}/terms/{k}"] = v.numpy()
  _state(out, f"{name}_g", g)
  _state(out, f"{name}_d", d)


def export(path: str, seed: int = 0) -> None:
  torch.manual_seed(seed)
  gen = torch.Generator().manual_seed(seed + 1)
  out = {}
  lr_s, hr_s = _codes(gen, (2, 3, 6, 6)), _codes(gen, (2, 3, 24, 24))
  lr_e, hr_e = _codes(gen, (2, 3, 32, 32)), _codes(gen, (2, 3, 128, 128))
  for k, v in dict(lr_s=lr_s, hr_s=hr_s, lr_e=lr_e, hr_e=hr_e).items():
    out[k] = v.numpy().transpose(0, 2, 3, 1)
  unit = lambda c: (_img(c) + 1) / 2
  sg = _perturb(ts.SRResNet(3, 4, 2, 4), gen)
  sd = _perturb(ts.SRGANDiscriminator(3, 4, 24, 16), gen)
  eg = _perturb(ts.RRDBNet(3, 3, 4, 8, 1, 4), gen)
  ed = _perturb(ts.VGGStyleDiscriminator(3, 2, 128), gen)
  vgg = ts.VGGFeatureExtractor("conv5_4", range_norm=True, width_divisor=VGG_DIV)
  # He init, so that features keep their scale through 16 narrow layers (PyTorch's default
  # would shrink them to ~1e-9 and leave the perceptual terms unchecked).
  ts.default_init_weights([vgg.features], 1.0)
  vgg = _perturb(vgg, gen)
  vgg.eval()
  with torch.no_grad():
    # At its init RRDBNet outputs a near-constant ~0 image: D's first pre-activations then
    # sit at the leaky ReLU's kink, where float32 round-off flips branches and the D
    # gradients of its first layers differ by ~1e-3 between any two implementations. A
    # textured mid-grey output keeps the comparison well-conditioned.
    eg.conv_last.weight.mul_(16)
    eg.conv_last.bias.fill_(0.5)
  for prefix, net in (("sg", sg), ("sd", sd), ("eg", eg), ("ed", ed), ("vgg", vgg)):
    _state(out, prefix, net)
  steps = {k: copy.deepcopy(v) for k, v in dict(sg=sg, sd=sd, eg=eg, ed=ed).items()}

  _forwards(out, "sg", sg, unit(lr_s), _nhwc)
  _forwards(out, "sd", sd, _img(hr_s), lambda t: t[:, 0].numpy())
  _forwards(out, "ed", ed, unit(hr_e), lambda t: t[:, 0].numpy())
  with torch.no_grad():
    out["eg_out"] = _nhwc(eg(unit(lr_e[:, :, :16, :16])) * 2 - 1)
    out["vgg_conv5_4"] = _nhwc(vgg(_img(hr_s)))
    out["vgg_relu5_4"] = _nhwc(torch.relu(vgg(_img(hr_s))))
  for prefix, net in (("sg_after", sg), ("sd_after", sd), ("ed_after", ed)):
    _state(out, prefix, net, only_running=True)

  vgg_s = ts.VGGFeatureExtractor("relu5_4", range_norm=True, width_divisor=VGG_DIV)
  vgg_s.load_torchvision(vgg.state_dict())
  _step(out, "srgan", steps["sg"], steps["sd"], vgg_s, unit(lr_s), _img(hr_s), SRGAN)
  vgg_e = ts.VGGFeatureExtractor("conv5_4", range_norm=False, width_divisor=VGG_DIV)
  vgg_e.load_torchvision(vgg.state_dict())
  _step(out, "esrgan", steps["eg"], steps["ed"], vgg_e, unit(lr_e), unit(hr_e), ESRGAN)

  out["count/srresnet"] = _count(ts.SRResNet())
  out["count/srgan_d96"] = _count(ts.SRGANDiscriminator())
  out["count/rrdbnet_x4"] = _count(ts.RRDBNet())
  out["count/vgg_d128"] = _count(ts.VGGStyleDiscriminator(3, 64, 128))
  out["count/vgg19_conv5_4"] = _count(ts.VGGFeatureExtractor("conv5_4"))
  for name, settings in (("srgan", SRGAN), ("esrgan", ESRGAN)):
    for k, v in settings.items():
      if k != "mode" and not isinstance(v, str):
        out[f"settings/{name}/{k}"] = np.array(v)
  out = {k: v if isinstance(v, np.ndarray) else np.asarray(v) for k, v in out.items()}
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB, {len(out)} arrays, "
        f"torch {torch.__version__})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "srgan_torch_reference.npz"))
  args = parser.parse_args()
  export(os.path.normpath(args.out))
