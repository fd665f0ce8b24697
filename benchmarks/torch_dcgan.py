"""The PyTorch DCGAN tutorial's networks and train step (pytorch/tutorials,
beginner_source/dcgan_faces_tutorial.py), written out for our reference fixture and
as the benchmark peer. Needs torch (`pip install -e '.[torch]'`).
"""

import torch
from torch import nn


class TutorialGenerator(nn.Module):
  def __init__(self, nz=100, ngf=64, nc=3):
    super().__init__()
    self.main = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

  def forward(self, z):
    return self.main(z)


class TutorialDiscriminator(nn.Module):
  def __init__(self, ndf=64, nc=3):
    super().__init__()
    self.main = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

  def forward(self, x):
    return self.main(x)

  def logits(self, x):
    return self.main[:-1](x).view(-1)


def weights_init(m):
  """The tutorial's initialisation."""
  if m.__class__.__name__.find("Conv") != -1:
    nn.init.normal_(m.weight.data, 0.0, 0.02)
  elif m.__class__.__name__.find("BatchNorm") != -1:
    nn.init.normal_(m.weight.data, 1.0, 0.02)
    nn.init.constant_(m.bias.data, 0)


def make_tutorial_trainer(netG, netD, *, lr=2e-4, beta1=0.5, nz=100):
  """The tutorial's training iteration as a function of a real batch (NCHW)."""
  criterion = nn.BCELoss()
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))

  def step(real):
    b = real.size(0)
    netD.zero_grad()
    label = torch.full((b,), 1.0)
    errD_real = criterion(netD(real).view(-1), label)
    errD_real.backward()
    noise = torch.randn(b, nz, 1, 1)
    fake = netG(noise)
    label.fill_(0.0)
    errD_fake = criterion(netD(fake.detach()).view(-1), label)
    errD_fake.backward()
    optD.step()
    netG.zero_grad()
    label.fill_(1.0)
    errG = criterion(netD(fake).view(-1), label)
    errG.backward()
    optG.step()
    return errD_real + errD_fake, errG

  return step


def _stages(image_size: int) -> int:
  """Stride-2 stages between 4x4 and the image, as jaxgan's DCGAN (4 at 64x64)."""
  if image_size < 8 or image_size & (image_size - 1):
    raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
  return image_size.bit_length() - 3


class DCGANGenerator(nn.Module):
  """The tutorial's generator at any power-of-two size (identical layers at 64x64)."""

  def __init__(self, image_size=64, nz=100, ngf=64, nc=3):
    super().__init__()
    n = _stages(image_size)
    c = ngf * 2 ** (n - 1)
    layers = [nn.ConvTranspose2d(nz, c, 4, 1, 0, bias=False)]
    for i in range(n):
      out = nc if i == n - 1 else c // 2
      layers += [nn.BatchNorm2d(c), nn.ReLU(True), nn.ConvTranspose2d(c, out, 4, 2, 1, bias=False)]
      c //= 2
    self.main = nn.Sequential(*layers, nn.Tanh())

  def forward(self, z):
    return self.main(z)


class DCGANDiscriminator(nn.Module):
  """The tutorial's discriminator at any power-of-two size; `logits` drops the sigmoid."""

  def __init__(self, image_size=64, ndf=64, nc=3):
    super().__init__()
    n = _stages(image_size)
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    c = ndf
    for _ in range(n - 1):
      layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2),
                 nn.LeakyReLU(0.2, inplace=True)]
      c *= 2
    self.body = nn.Sequential(*layers, nn.Conv2d(c, 1, 4, 1, 0, bias=False))

  def forward(self, x):
    return torch.sigmoid(self.logits(x))

  def logits(self, x):
    return self.body(x).view(-1)


def make_trainer(netG, netD, *, device, precision="f32", lr=2e-4, beta1=0.5, nz=100):
  """The tutorial's iteration on `device`. f32: its BCELoss on sigmoid outputs, exactly;
  bf16: autocast with BCE on logits (BCELoss refuses autocast; the same function)."""
  if precision == "f32":  # the tutorial's criterion on D's sigmoid outputs
    bce_loss = nn.BCELoss()
    criterion = lambda x, label: bce_loss(netD(x).view(-1), label)
  else:
    bce_logits = nn.BCEWithLogitsLoss()
    criterion = lambda x, label: bce_logits(netD.logits(x).float(), label)
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def step(real):
    b = real.size(0)
    ones = torch.ones(b, device=device)
    zeros = torch.zeros(b, device=device)
    netD.zero_grad(set_to_none=True)
    with autocast:
      errD_real = criterion(real, ones)
    errD_real.backward()
    noise = torch.randn(b, nz, 1, 1, device=device)
    with autocast:
      fake = netG(noise)
      errD_fake = criterion(fake.detach(), zeros)
    errD_fake.backward()
    optD.step()
    netG.zero_grad(set_to_none=True)
    with autocast:
      errG = criterion(fake, ones)
    errG.backward()
    optG.step()
    return errD_real + errD_fake, errG

  return step
