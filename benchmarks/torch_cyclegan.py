"""CycleGAN's networks and training iteration in PyTorch, for our reference fixture and as
the benchmark peer. Written to follow the authors' code, junyanz/pytorch-CycleGAN-and-
pix2pix: models/networks.py (ResnetGenerator of ResnetBlocks, padding 'reflect'; the
PatchGAN D and init_weights are benchmarks/torch_pix2pix.py's), util/image_pool.py
(ImagePool) and models/cycle_gan_model.py (CycleGANModel.optimize_parameters, gan_mode
'lsgan'). The module tree is the reference's, so the state_dict keys are too (G:
model.<i>, a residual block's layers model.<i>.conv_block.<j>; D: model.<i>) and the
authors' checkpoints load into these classes and through jaxgan/models/torch_import.py.
Needs torch (`pip install -e '.[torch]'`).
"""

import random

import torch
from torch import nn

from benchmarks.torch_pix2pix import NLayerDiscriminator, init_weights, norm_layer  # noqa: F401


class ResnetBlock(nn.Module):
  """x + [reflection-pad 1, 3x3 conv, norm, ReLU, (dropout 0.5), reflection-pad 1, 3x3
  conv, norm](x). Convs followed by BatchNorm have no bias (its shift does that job)."""

  def __init__(self, dim, norm="instance", use_dropout=False):
    super().__init__()
    bias = norm == "instance"
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim),
              nn.ReLU(True)]
    if use_dropout:
      layers.append(nn.Dropout(0.5))
    layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
    self.conv_block = nn.Sequential(*layers)

  def forward(self, x):
    return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
  """resnet_{n_blocks}blocks: 7x7 stem, two stride-2 3x3 convs, n_blocks residual blocks
  at 4 ngf, two stride-2 3x3 transposed convs (output_padding 1), 7x7 head, tanh."""

  def __init__(self, input_nc, output_nc, ngf=64, norm="instance", use_dropout=False,
               n_blocks=9):
    super().__init__()
    bias = norm == "instance"
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias),
              norm_layer(norm, ngf), nn.ReLU(True)]
    for i in range(2):
      c = ngf * 2 ** i
      layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
    layers += [ResnetBlock(4 * ngf, norm, use_dropout) for _ in range(n_blocks)]
    for i in range(2):
      c = ngf * 2 ** (2 - i)
      layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias),
                 norm_layer(norm, c // 2), nn.ReLU(True)]
    # The head is biased whatever the norm, as in the reference.
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    self.model = nn.Sequential(*layers)

  def forward(self, x):
    return self.model(x)


class ImagePool:
  """The history of generated images D is trained on: while fewer than pool_size are held,
  each new image is stored and returned; after that, each new image is, with probability
  1/2, swapped for a random stored one (returned in its place), else returned itself.
  pool_size 0 returns the batch as given. Randomness from Python's `random`, as theirs."""

  def __init__(self, pool_size: int):
    self.pool_size = pool_size
    self.images = []

  def query(self, images):
    if self.pool_size == 0:
      return images
    out = []
    for image in images.detach():
      image = image.unsqueeze(0)
      if len(self.images) < self.pool_size:
        self.images.append(image)
        out.append(image)
      elif random.uniform(0, 1) > 0.5:
        i = random.randint(0, self.pool_size - 1)
        out.append(self.images[i].clone())
        self.images[i] = image
      else:
        out.append(image)
    return torch.cat(out, 0)


def make_trainer(netG_A, netG_B, netD_A, netD_B, *, device, precision="f32", lambda_a=10.0,
                 lambda_b=10.0, lambda_identity=0.5, pool_size=50, lr=2e-4, beta1=0.5):
  """CycleGANModel.optimize_parameters on `device` as step(real_a, real_b) -> (d_loss,
  g_loss), NCHW batches. G_A: A -> B, G_B: B -> A; D_A judges B, D_B judges A. GANLoss
  ('lsgan') is the MSE against an all-ones / all-zeros map the shape of D's output.
  d_loss = loss_D_A + loss_D_B, g_loss = the whole G objective. step.terms holds the
  last step's separate losses (0-d tensors, named as the reference's loss_names). bf16: autocast,
  losses in float32 (as torch_pix2pix.py)."""
  mse = nn.MSELoss()
  l1 = nn.L1Loss()
  params = lambda *nets: [p for net in nets for p in net.parameters()]
  optG = torch.optim.Adam(params(netG_A, netG_B), lr=lr, betas=(beta1, 0.999))
  optD = torch.optim.Adam(params(netD_A, netD_B), lr=lr, betas=(beta1, 0.999))
  pool_a, pool_b = ImagePool(pool_size), ImagePool(pool_size)
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def gan_loss(pred, real: bool):
    pred = pred.float()
    return mse(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

  def set_requires_grad(flag: bool):
    for p in params(netD_A, netD_B):
      p.requires_grad_(flag)

  def d_basic(netD, real, fake):
    with autocast:
      loss_real = gan_loss(netD(real), True)
      loss_fake = gan_loss(netD(fake.detach()), False)
    loss = (loss_real + loss_fake) * 0.5
    loss.backward()  # each D's backward at once, as the reference; one optD.step after both
    return loss

  def step(real_a, real_b):
    with autocast:
      fake_b = netG_A(real_a)
      rec_a = netG_B(fake_b)
      fake_a = netG_B(real_b)
      rec_b = netG_A(fake_a)
    # G first, through the current Ds, frozen so that only G's gradients are computed.
    set_requires_grad(False)
    optG.zero_grad()
    t = {}
    if lambda_identity > 0:
      with autocast:
        idt_a, idt_b = netG_A(real_b), netG_B(real_a)
      t["idt_A"] = l1(idt_a.float(), real_b.float()) * lambda_b * lambda_identity
      t["idt_B"] = l1(idt_b.float(), real_a.float()) * lambda_a * lambda_identity
    else:
      t["idt_A"] = t["idt_B"] = torch.zeros((), device=real_a.device)
    with autocast:
      t["G_A"] = gan_loss(netD_A(fake_b), True)
      t["G_B"] = gan_loss(netD_B(fake_a), True)
    t["cycle_A"] = l1(rec_a.float(), real_a.float()) * lambda_a
    t["cycle_B"] = l1(rec_b.float(), real_b.float()) * lambda_b
    loss_g = t["G_A"] + t["G_B"] + t["cycle_A"] + t["cycle_B"] + t["idt_A"] + t["idt_B"]
    loss_g.backward()
    optG.step()
    # Then both Ds on the pools' fakes (G's outputs from before its update).
    set_requires_grad(True)
    optD.zero_grad()
    t["D_A"] = d_basic(netD_A, real_b, pool_b.query(fake_b))
    t["D_B"] = d_basic(netD_B, real_a, pool_a.query(fake_a))
    optD.step()
    step.terms = {k: v.detach() for k, v in t.items()}  # tensors: no device sync
    return (t["D_A"] + t["D_B"]).detach(), loss_g.detach()

  step.terms = {}
  return step
