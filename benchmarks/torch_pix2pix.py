"""pix2pix's networks and training iteration in PyTorch, for our reference fixture and as
the benchmark peer. Written to follow the authors' code, junyanz/pytorch-CycleGAN-and-
pix2pix: models/networks.py (UnetGenerator of UnetSkipConnectionBlocks, NLayerDiscriminator,
get_norm_layer, init_weights 'normal' with gain 0.02, GANLoss 'vanilla') and
models/pix2pix_model.py (Pix2PixModel.optimize_parameters). The module tree is the
reference's, so the state_dict keys are too (model.model.1.model.3...; D: model.<i>) and
the authors' checkpoints load into these classes and through jaxgan/models/torch_import.py.
Needs torch (`pip install -e '.[torch]'`).
"""

import torch
from torch import nn

NORMS = ("batch", "instance")


def norm_layer(norm: str, channels: int) -> nn.Module:
  """get_norm_layer: BatchNorm2d with affine and running stats, or InstanceNorm2d without."""
  if norm == "batch":
    return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
  if norm == "instance":
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
  raise ValueError(f"unknown norm {norm!r}; valid: {', '.join(NORMS)}")


class UnetBlock(nn.Module):
  """One U-Net level: (leaky ReLU, 4x4/2 conv, norm) -> inner levels -> (ReLU, 4x4/2
  transposed conv, norm), the block's input concatenated in front of its output.

  The outermost level has no activation or norm on the way down, a biased transposed conv
  and tanh on the way up, and no concatenation; the innermost has no down norm and no
  inner levels. Convs followed by BatchNorm have no bias (its shift does that job).
  """

  def __init__(self, outer_nc, inner_nc, input_nc=None, inner=None, outermost=False,
               innermost=False, norm="batch", use_dropout=False):
    super().__init__()
    self.outermost = outermost
    bias = norm == "instance"
    input_nc = outer_nc if input_nc is None else input_nc
    down_conv = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
    # In place, as in the reference: the block's input (the skip it concatenates) becomes
    # leaky_relu(input). Harmless: the only reader of the skip is the outer level's ReLU,
    # and relu(leaky_relu(x)) == relu(x), values and gradients.
    down_act = nn.LeakyReLU(0.2, True)
    up_act = nn.ReLU(True)
    if outermost:
      up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1)
      layers = [down_conv, inner, up_act, up_conv, nn.Tanh()]
    elif innermost:
      up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, 2, 1, bias=bias)
      layers = [down_act, down_conv, up_act, up_conv, norm_layer(norm, outer_nc)]
    else:
      up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias)
      layers = [down_act, down_conv, norm_layer(norm, inner_nc), inner,
                up_act, up_conv, norm_layer(norm, outer_nc)]
      if use_dropout:
        layers.append(nn.Dropout(0.5))
    self.model = nn.Sequential(*layers)

  def forward(self, x):
    if self.outermost:
      return self.model(x)
    return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
  """num_downs levels (8 for 256x256: unet_256), widths ngf, 2ngf, 4ngf, then 8ngf."""

  def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm="batch", use_dropout=False):
    super().__init__()
    # Built from the innermost level out, as the reference does.
    block = UnetBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
    for _ in range(num_downs - 5):
      block = UnetBlock(ngf * 8, ngf * 8, inner=block, norm=norm, use_dropout=use_dropout)
    for mult in (4, 2, 1):
      block = UnetBlock(ngf * mult, ngf * mult * 2, inner=block, norm=norm)
    self.model = UnetBlock(output_nc, ngf, input_nc=input_nc, inner=block, outermost=True,
                           norm=norm)

  def forward(self, x):
    return self.model(x)


class NLayerDiscriminator(nn.Module):
  """The PatchGAN: n_layers=3 gives the 70x70 patches of pix2pix (`basic` D)."""

  def __init__(self, input_nc, ndf=64, n_layers=3, norm="batch"):
    super().__init__()
    bias = norm == "instance"
    layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for i in range(1, n_layers + 1):  # the last of these keeps the resolution
      out = ndf * min(2 ** i, 8)
      layers += [nn.Conv2d(c, out, 4, 2 if i < n_layers else 1, 1, bias=bias),
                 norm_layer(norm, out), nn.LeakyReLU(0.2, True)]
      c = out
    layers.append(nn.Conv2d(c, 1, 4, 1, 1))
    self.model = nn.Sequential(*layers)

  def forward(self, x):
    return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
  """init_weights(init_type='normal'): conv weights N(0, gain), conv biases 0, BatchNorm
  scales N(1, gain) and shifts 0 (InstanceNorm here has no weights)."""

  def init(m):
    name = m.__class__.__name__
    if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
      nn.init.normal_(m.weight.data, 0.0, gain)
      if getattr(m, "bias", None) is not None:
        nn.init.constant_(m.bias.data, 0.0)
    elif "BatchNorm2d" in name:
      nn.init.normal_(m.weight.data, 1.0, gain)
      nn.init.constant_(m.bias.data, 0.0)

  return net.apply(init)


def make_trainer(netG, netD, *, device, precision="f32", lambda_l1=100.0, lr=2e-4, beta1=0.5):
  """Pix2PixModel.optimize_parameters on `device` as step(real_a, real_b) -> (d_loss, g_loss),
  NCHW batches. GANLoss('vanilla') is BCE-with-logits against an all-ones / all-zeros map
  the shape of D's output. bf16: autocast, losses in float32 (as torch_dcgan.py)."""
  bce = nn.BCEWithLogitsLoss()
  l1 = nn.L1Loss()
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def gan_loss(pred, real: bool):
    pred = pred.float()
    return bce(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

  def set_requires_grad(flag: bool):
    for p in netD.parameters():
      p.requires_grad_(flag)

  def step(real_a, real_b):
    with autocast:
      fake_b = netG(real_a)
    # D: the fake pair (G detached) first, then the real pair; the order matters for
    # BatchNorm's running statistics.
    set_requires_grad(True)
    optD.zero_grad()
    with autocast:
      loss_d_fake = gan_loss(netD(torch.cat((real_a, fake_b), 1).detach()), False)
      loss_d_real = gan_loss(netD(torch.cat((real_a, real_b), 1)), True)
    loss_d = (loss_d_fake + loss_d_real) * 0.5
    loss_d.backward()
    optD.step()
    # G: through the updated D, frozen so that only G's gradients are computed.
    set_requires_grad(False)
    optG.zero_grad()
    with autocast:
      loss_g_gan = gan_loss(netD(torch.cat((real_a, fake_b), 1)), True)
    loss_g = loss_g_gan + l1(fake_b.float(), real_b.float()) * lambda_l1
    loss_g.backward()
    optG.step()
    return loss_d.detach(), loss_g.detach()

  return step
