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
