"""SRGAN's and ESRGAN's networks and training iterations in PyTorch, for our reference
fixture and as the benchmark peer.

- SRResNet and SRGANDiscriminator: Ledig et al. 2017, Fig. 4 (the authors released no
  code), with the choices documented in jaxgan/models/srgan.py: LR input in [0, 1] and HR
  output in [-1, 1] (tanh), as the paper's data; convs before BatchNorm without bias;
  nn.PReLU() (one slope); PyTorch's default init.
- RRDBNet, VGGStyleDiscriminator and the VGG19 feature extractor follow the module trees
  of XPixelGroup/BasicSR (basicsr/archs/rrdbnet_arch.py, discriminator_arch.py,
  vgg_arch.py), so their state_dict keys are BasicSR's (conv_first.weight, body.0.rdb1.
  conv1.weight, ..., conv0_0.weight, bn0_1.running_mean, linear1.weight) and the released
  RRDB_ESRGAN_x4.pth loads with load_state_dict; the VGG keeps torchvision's
  features.<i> layout so vgg19-dcbb9e9d.pth loads too. These work on [0, 1] images.
- make_trainer: one iteration of BasicSR's SRGANModel.optimize_parameters (mode "srgan")
  or ESRGANModel.optimize_parameters (mode "esrgan"): G's update first, through D as it is
  (D's parameters frozen but its BatchNorm in train mode), then D's on the real batch and
  the detached fake computed before G's update.

Needs torch (`pip install -e '.[torch]'`).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import init as torch_init

# --- SRGAN (the paper) -------------------------------------------------------------------


class SRResidualBlock(nn.Module):

  def __init__(self, width):
    super().__init__()
    self.conv1 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(width)
    self.prelu = nn.PReLU()
    self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(width)

  def forward(self, x):
    return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRUpsample(nn.Module):

  def __init__(self, width):
    super().__init__()
    self.conv = nn.Conv2d(width, 4 * width, 3, 1, 1)
    self.prelu = nn.PReLU()

  def forward(self, x):
    return self.prelu(F.pixel_shuffle(self.conv(x), 2))


class SRResNet(nn.Module):
  """LR (B, C, h, w) in [0, 1] -> HR (B, C, h s, w s) in [-1, 1]."""

  def __init__(self, channels=3, width=64, num_blocks=16, scale=4):
    super().__init__()
    self.conv_in = nn.Conv2d(channels, width, 9, 1, 4)
    self.prelu_in = nn.PReLU()
    self.blocks = nn.ModuleList(SRResidualBlock(width) for _ in range(num_blocks))
    self.conv_mid = nn.Conv2d(width, width, 3, 1, 1, bias=False)
    self.bn_mid = nn.BatchNorm2d(width)
    self.up = nn.ModuleList(SRUpsample(width) for _ in range(scale.bit_length() - 1))
    self.conv_out = nn.Conv2d(width, channels, 9, 1, 4)

  def forward(self, x):
    skip = self.prelu_in(self.conv_in(x))
    h = skip
    for block in self.blocks:
      h = block(h)
    h = self.bn_mid(self.conv_mid(h)) + skip
    for up in self.up:
      h = up(h)
    return torch.tanh(self.conv_out(h))


SRGAN_D_LAYERS = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2))


class SRGANDiscriminator(nn.Module):
  """HR (B, C, S, S) in [-1, 1] -> logits (B, 1)."""

  def __init__(self, channels=3, width=64, image_size=96, dense_width=1024):
    super().__init__()
    self.conv0 = nn.Conv2d(channels, width, 3, 1, 1)
    convs, bns, c, s = [], [], width, image_size
    for f, stride in SRGAN_D_LAYERS:
      f = f * width // 64
      convs.append(nn.Conv2d(c, f, 3, stride, 1, bias=False))
      bns.append(nn.BatchNorm2d(f))
      c, s = f, (s - 1) // stride + 1
    self.convs, self.bns = nn.ModuleList(convs), nn.ModuleList(bns)
    self.dense1 = nn.Linear(c * s * s, dense_width)
    self.dense2 = nn.Linear(dense_width, 1)

  def forward(self, x):
    h = F.leaky_relu(self.conv0(x), 0.2)
    for conv, bn in zip(self.convs, self.bns):
      h = F.leaky_relu(bn(conv(h)), 0.2)
    return self.dense2(F.leaky_relu(self.dense1(h.flatten(1)), 0.2))


# --- ESRGAN (BasicSR's module trees) ---------------------------------------------------------


def default_init_weights(modules, scale=1.0):
  """BasicSR's default_init_weights: kaiming_normal_ times `scale`, biases 0."""
  for module in modules:
    for m in module.modules():
      if isinstance(m, (nn.Conv2d, nn.Linear)):
        torch_init.kaiming_normal_(m.weight)
        m.weight.data *= scale
        if m.bias is not None:
          m.bias.data.fill_(0)


class ResidualDenseBlock(nn.Module):

  def __init__(self, num_feat=64, num_grow_ch=32):
    super().__init__()
    for m in range(1, 6):
      cin = num_feat + (m - 1) * num_grow_ch
      setattr(self, f"conv{m}", nn.Conv2d(cin, num_feat if m == 5 else num_grow_ch, 3, 1, 1))
    default_init_weights([getattr(self, f"conv{m}") for m in range(1, 6)], 0.1)

  def forward(self, x):
    feats = [x]
    for m in range(1, 5):
      feats.append(F.leaky_relu(getattr(self, f"conv{m}")(torch.cat(feats, 1)), 0.2))
    return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):

  def __init__(self, num_feat, num_grow_ch=32):
    super().__init__()
    self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
    self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
    self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

  def forward(self, x):
    return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
  """[0, 1] LR (B, C, h, w) -> HR (B, C, h s, w s), no output activation."""

  def __init__(self, num_in_ch=3, num_out_ch=3, scale=4, num_feat=64, num_block=23,
               num_grow_ch=32):
    super().__init__()
    self.scale = scale
    num_in_ch *= {4: 1, 2: 4, 1: 16}[scale]
    self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
    self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
    self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
    self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

  def forward(self, x):
    feat = F.pixel_unshuffle(x, 4 // self.scale) if self.scale < 4 else x
    feat = self.conv_first(feat)
    feat = feat + self.conv_body(self.body(feat))
    lrelu = lambda t: F.leaky_relu(t, 0.2)
    feat = lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
    feat = lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
    return self.conv_last(lrelu(self.conv_hr(feat)))


class VGGStyleDiscriminator(nn.Module):
  """[0, 1] HR (B, C, 128 or 256, .) -> logits (B, 1)."""

  def __init__(self, num_in_ch=3, num_feat=64, input_size=128):
    super().__init__()
    assert input_size in (128, 256)
    self.levels = 6 if input_size == 256 else 5
    self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
    c = num_feat
    for lv in range(self.levels):
      f = num_feat * min(2 ** lv, 8)
      for j in (0, 1):
        if lv == 0 and j == 0:
          continue
        conv = (nn.Conv2d(c, f, 3, 1, 1, bias=False) if j == 0
                else nn.Conv2d(c, f, 4, 2, 1, bias=False))
        setattr(self, f"conv{lv}_{j}", conv)
        setattr(self, f"bn{lv}_{j}", nn.BatchNorm2d(f, affine=True))
        c = f
    self.linear1 = nn.Linear(num_feat * 8 * 4 * 4, 100)
    self.linear2 = nn.Linear(100, 1)

  def forward(self, x):
    lrelu = lambda t: F.leaky_relu(t, 0.2)
    h = lrelu(self.conv0_0(x))
    for lv in range(self.levels):
      for j in (0, 1):
        if lv == 0 and j == 0:
          continue
        h = lrelu(getattr(self, f"bn{lv}_{j}")(getattr(self, f"conv{lv}_{j}")(h)))
    return self.linear2(lrelu(self.linear1(h.flatten(1))))


VGG19_STAGES = (2, 2, 4, 4, 4)
VGG19_WIDTHS = (64, 128, 256, 512, 512)


def vgg19_layer_names():
  names = []
  for s, n in enumerate(VGG19_STAGES, start=1):
    for c in range(1, n + 1):
      names += [f"conv{s}_{c}", f"relu{s}_{c}"]
    names.append(f"pool{s}")
  return names


class VGGFeatureExtractor(nn.Module):
  """torchvision's vgg19().features cut after `layer` (keys features.<i>.*), ImageNet
  normalisation of [0, 1] input (or of [-1, 1] with range_norm, as BasicSR's); frozen, in
  eval mode, as BasicSR's PerceptualLoss keeps it."""

  def __init__(self, layer="conv5_4", range_norm=False, width_divisor=1):
    super().__init__()
    names = vgg19_layer_names()
    mods, c = [], 3
    widths = iter(w for w, n in zip(VGG19_WIDTHS, VGG19_STAGES) for _ in range(n))
    for name in names[:names.index(layer) + 1]:
      if name.startswith("conv"):
        w = next(widths) // width_divisor
        mods.append(nn.Conv2d(c, w, 3, 1, 1))
        c = w
      elif name.startswith("relu"):
        mods.append(nn.ReLU(inplace=False))
      else:
        mods.append(nn.MaxPool2d(2, 2))
    self.features = nn.Sequential(*mods)
    self.range_norm = range_norm
    self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
                         persistent=False)
    self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
                         persistent=False)
    for p in self.parameters():
      p.requires_grad_(False)
    self.eval()

  def load_torchvision(self, state_dict):
    """torchvision vgg19 weights: the features up to the cut; the rest is ignored."""
    own = self.state_dict()
    self.load_state_dict({k: v for k, v in state_dict.items() if k in own})

  def forward(self, x):
    if self.range_norm:
      x = (x + 1) / 2
    return self.features((x - self.mean) / self.std)


# --- One training iteration ------------------------------------------------------------------


def make_trainer(netG, netD, vgg=None, *, device, precision="f32", mode="esrgan",
                 pixel_loss="l1", pixel_weight=1e-2, perceptual_criterion="l1",
                 perceptual_weight=1.0, adv_weight=5e-3, lr=1e-4, betas=(0.9, 0.99)):
  """BasicSR's SRGANModel ("srgan") / ESRGANModel ("esrgan", relativistic D)
  optimize_parameters on `device` as step(lq, gt) -> (d_loss, g_loss), NCHW batches in
  the networks' own ranges. `vgg`: a VGGFeatureExtractor (None: no perceptual term).
  GANLoss('vanilla'): BCE-with-logits against 1 / 0, times adv_weight for G only.
  d_loss = l_d_real + l_d_fake; g_loss = the whole G objective. step.terms: the last
  step's separate terms (0-d tensors). Defaults: BasicSR's train_ESRGAN_x4.yml. bf16:
  autocast, losses in float32 (as torch_pix2pix.py)."""
  if mode not in ("srgan", "esrgan"):
    raise ValueError(f"unknown mode {mode!r}")
  bce = nn.BCEWithLogitsLoss()
  crit = {"l1": nn.L1Loss(), "mse": nn.MSELoss()}
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=betas)
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=betas)
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def gan_loss(pred, real: bool):
    pred = pred.float()
    return bce(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

  def set_requires_grad(flag: bool):
    for p in netD.parameters():
      p.requires_grad_(flag)

  def step(lq, gt):
    terms = {}
    # G, through D as it is: frozen parameters, BatchNorm in train mode.
    set_requires_grad(False)
    optG.zero_grad()
    with autocast:
      output = netG(lq)
    l_g_total = 0.0
    if pixel_loss != "none":
      terms["l_g_pix"] = crit[pixel_loss](output.float(), gt.float()) * pixel_weight
      l_g_total = l_g_total + terms["l_g_pix"]
    if vgg is not None:
      with autocast:
        fx, fgt = vgg(output), vgg(gt.detach())
      terms["l_g_percep"] = crit[perceptual_criterion](fx.float(), fgt.float()) * perceptual_weight
      l_g_total = l_g_total + terms["l_g_percep"]
    with autocast:
      if mode == "esrgan":
        real_d_pred = netD(gt).detach().float()
        fake_g_pred = netD(output).float()
        l_g_real = gan_loss(real_d_pred - torch.mean(fake_g_pred), False) * adv_weight
        l_g_fake = gan_loss(fake_g_pred - torch.mean(real_d_pred), True) * adv_weight
        terms["l_g_gan"] = (l_g_real + l_g_fake) / 2
      else:
        terms["l_g_gan"] = gan_loss(netD(output), True) * adv_weight
    l_g_total = l_g_total + terms["l_g_gan"]
    l_g_total.backward()
    optG.step()

    # D: the real batch and the fake made before G's update, detached.
    set_requires_grad(True)
    optD.zero_grad()
    with autocast:
      if mode == "esrgan":  # BasicSR's order: fake (for the mean only), real, fake
        fake_d_pred = netD(output.detach()).detach().float()
        real_d_pred = netD(gt).float()
        l_d_real = gan_loss(real_d_pred - torch.mean(fake_d_pred), True) * 0.5
        l_d_real.backward()
        fake_d_pred = netD(output.detach()).float()
        l_d_fake = gan_loss(fake_d_pred - torch.mean(real_d_pred.detach()), False) * 0.5
      else:
        real_d_pred = netD(gt)
        l_d_real = gan_loss(real_d_pred, True)
        l_d_real.backward()
        fake_d_pred = netD(output.detach())
        l_d_fake = gan_loss(fake_d_pred, False)
    l_d_fake.backward()
    optD.step()
    terms.update(l_d_real=l_d_real.detach(), l_d_fake=l_d_fake.detach(),
                 out_d_real=real_d_pred.detach().float().mean(),
                 out_d_fake=fake_d_pred.detach().float().mean())
    step.terms = {k: v.detach() for k, v in terms.items()}
    return (l_d_real + l_d_fake).detach(), l_g_total.detach()

  step.terms = {}
  return step
