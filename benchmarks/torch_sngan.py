"""SNGAN's CIFAR-10 ResNet G and D (Miyato et al. 2018, appendix B.4) and its hinge-loss
train step with 5 D updates per G update, in PyTorch: the benchmark peer of jaxgan's
`sngan32` (jaxgan/models/resnet.py). The same layers, widths and step structure:

- G: dense z -> 4x4x256, three up-blocks (BN, ReLU, nearest 2x, conv3x3, BN, ReLU, conv3x3;
  shortcut nearest 2x then conv1x1), BN, ReLU, conv3x3, tanh.
- D: optimised first block (conv3x3, ReLU, conv3x3, avg-pool; shortcut avg-pool then
  conv1x1), a down-block (ReLU, conv, ReLU, conv, pool; shortcut conv1x1 then pool), two
  blocks without resampling (identity shortcut), ReLU, global sum pool, dense -> 1;
  spectral norm (one power iteration per training forward) on every D layer.
- One step: for k in 1..5, G forward on fresh z (train mode), a D update on real batch k and
  the detached fakes; then a G update through the last G forward against the updated D.
  Adam(2e-4, betas (0, 0.9)) on both.
"""

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _up(x):
  return nn.functional.interpolate(x, scale_factor=2, mode="nearest")


class GBlock(nn.Module):
  def __init__(self, c):
    super().__init__()
    self.bn0, self.bn1 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
    self.conv0, self.conv1 = nn.Conv2d(c, c, 3, 1, 1), nn.Conv2d(c, c, 3, 1, 1)
    self.shortcut = nn.Conv2d(c, c, 1)

  def forward(self, x):
    h = self.conv0(_up(torch.relu(self.bn0(x))))
    h = self.conv1(torch.relu(self.bn1(h)))
    return h + self.shortcut(_up(x))


class Generator(nn.Module):
  def __init__(self, image_size=32, nz=128, width=256, nc=3):
    super().__init__()
    self.width = width
    self.fc = nn.Linear(nz, 4 * 4 * width)
    n_up = image_size.bit_length() - 3
    self.blocks = nn.Sequential(*[GBlock(width) for _ in range(n_up)])
    self.bn_out = nn.BatchNorm2d(width)
    self.conv_out = nn.Conv2d(width, nc, 3, 1, 1)

  def forward(self, z):
    x = self.fc(z).view(-1, self.width, 4, 4)
    x = torch.relu(self.bn_out(self.blocks(x)))
    return torch.tanh(self.conv_out(x))


class DBlock(nn.Module):
  def __init__(self, c_in, c, down, first):
    super().__init__()
    self.down, self.first = down, first
    self.conv0 = spectral_norm(nn.Conv2d(c_in, c, 3, 1, 1))
    self.conv1 = spectral_norm(nn.Conv2d(c, c, 3, 1, 1))
    needs_shortcut = first or down or c_in != c
    self.shortcut = spectral_norm(nn.Conv2d(c_in, c, 1)) if needs_shortcut else None

  def forward(self, x):
    h = x if self.first else torch.relu(x)
    h = self.conv1(torch.relu(self.conv0(h)))
    if self.down:
      h = nn.functional.avg_pool2d(h, 2)
    if self.first:
      s = self.shortcut(nn.functional.avg_pool2d(x, 2) if self.down else x)
    elif self.shortcut is not None:
      s = self.shortcut(x)
      s = nn.functional.avg_pool2d(s, 2) if self.down else s
    else:
      s = x
    return h + s


class Discriminator(nn.Module):
  def __init__(self, image_size=32, width=128, nc=3):
    super().__init__()
    n_down = image_size.bit_length() - 4
    blocks, c_in = [], nc
    for i in range(n_down + 2):
      blocks.append(DBlock(c_in, width, down=i < n_down, first=i == 0))
      c_in = width
    self.blocks = nn.Sequential(*blocks)
    self.logit = spectral_norm(nn.Linear(width, 1))

  def forward(self, x):
    h = torch.relu(self.blocks(x)).sum(dim=(2, 3))
    return self.logit(h).view(-1)


def make_trainer(netG, netD, *, device, precision="f32", n_critic=5, nz=128, lr=2e-4):
  """The step as a function of the real batch (n_critic * B, C, H, W)."""
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(0.0, 0.9))
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(0.0, 0.9))
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def step(real):
    reals = real.chunk(n_critic)
    b = reals[0].size(0)
    for k in range(n_critic):
      z = torch.randn(b, nz, device=device)
      with autocast:
        if k < n_critic - 1:
          with torch.no_grad():
            fake = netG(z)
        else:  # keep the graph of the last G forward for the G update
          fake = netG(z)
      # Each D forward's backward before the next forward: spectral norm updates its power-
      # iteration vectors in place per forward (torch.compile refuses the interleaving).
      optD.zero_grad(set_to_none=True)
      with autocast:
        d_real = torch.relu(1 - netD(reals[k]).float()).mean()
      d_real.backward()
      with autocast:
        d_fake = torch.relu(1 + netD(fake.detach()).float()).mean()
      d_fake.backward()
      optD.step()
      d_loss = d_real.detach() + d_fake.detach()
    with autocast:
      g_loss = -netD(fake).float().mean()
    optG.zero_grad(set_to_none=True)
    g_loss.backward()
    optG.step()
    return d_loss, g_loss

  return step
