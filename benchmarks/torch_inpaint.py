"""DeepFill v2's networks and training iteration in PyTorch, for our reference fixture and
as the benchmark peer. Written to follow the PyTorch port nipponjo/deepfillv2-pytorch
(model/networks.py: Generator of CoarseGenerator / FineGenerator of GConv, GDeConv and
ContextualAttention; Discriminator of DConv; train.py's training_loop; model/losses.py's
hinge losses), itself a port of the official TensorFlow code (JiahuiYu/generative_inpainting
v2). The module tree is the port's, so the state_dict keys are too (stage1.conv1.conv.weight,
stage2.contextual_attention.fuse_weight, conv1.conv_sn.weight, ...) and the port's
checkpoints (states_pt_places2.pth: {'G': ...}) load into these classes and through
jaxgan/models/torch_import.py.

One deliberate difference: the port's Conv2DSpectralNorm divides its weight parameter by
sigma in place at every forward (and back-propagates through none of it). Ours keeps the
parameter and its keys (weight, bias, weight_u (out, 1)) but normalises as
torch.nn.utils.spectral_norm does (the alternative the port leaves commented out), with a
weight_v buffer; the port's D checkpoints still load (weight_v is then derived from u).
Needs torch (`pip install -e '.[torch]'`).
"""

import torch
import torch.nn.functional as F
from torch import nn


def _init_conv(conv, activation):
  # The port's _init_conv_layer: kaiming_uniform(fan_out) before ELU / ReLU, biases 0.
  if isinstance(activation, (nn.ReLU, nn.ELU)):
    nn.init.kaiming_uniform_(conv.weight, nonlinearity="relu", mode="fan_out")
  if conv.bias is not None:
    nn.init.zeros_(conv.bias)


class GConv(nn.Module):
  """Gated conv: conv to 2 * cnum_out, ELU(features) * sigmoid(gate); gated=False: plain."""

  def __init__(self, cnum_in, cnum_out, ksize, stride=1, padding="auto", rate=1,
               activation=nn.ELU(), bias=True, gated=True):
    super().__init__()
    padding = rate * (ksize - 1) // 2 if padding == "auto" else padding
    self.activation, self.cnum_out, self.gated = activation, cnum_out, gated
    self.conv = nn.Conv2d(cnum_in, 2 * cnum_out if gated else cnum_out, ksize, stride,
                          padding, dilation=rate, bias=bias)
    _init_conv(self.conv, activation)

  def forward(self, x):
    x = self.conv(x)
    if not self.gated:
      return x
    x, y = torch.split(x, self.cnum_out, dim=1)
    return self.activation(x) * torch.sigmoid(y)


class GDeConv(nn.Module):
  """Nearest 2x upsampling, then a gated 3x3 conv."""

  def __init__(self, cnum_in, cnum_out, padding=1):
    super().__init__()
    self.conv = GConv(cnum_in, cnum_out, 3, 1, padding=padding)

  def forward(self, x):
    return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class GDownsamplingBlock(nn.Module):
  def __init__(self, cnum_in, cnum_out, cnum_hidden=None):
    super().__init__()
    hidden = cnum_out if cnum_hidden is None else cnum_hidden
    self.conv1_downsample = GConv(cnum_in, hidden, 3, 2)
    self.conv2 = GConv(hidden, cnum_out, 3, 1)

  def forward(self, x):
    return self.conv2(self.conv1_downsample(x))


class GUpsamplingBlock(nn.Module):
  def __init__(self, cnum_in, cnum_out, cnum_hidden=None):
    super().__init__()
    hidden = cnum_out if cnum_hidden is None else cnum_hidden
    self.conv1_upsample = GDeConv(cnum_in, hidden)
    self.conv2 = GConv(hidden, cnum_out, 3, 1)

  def forward(self, x):
    return self.conv2(self.conv1_upsample(x))


class CoarseGenerator(nn.Module):
  def __init__(self, cnum_in, cnum_out, cnum):
    super().__init__()
    self.conv1 = GConv(cnum_in, cnum // 2, 5, 1, padding=2)
    self.down_block1 = GDownsamplingBlock(cnum // 2, cnum)
    self.down_block2 = GDownsamplingBlock(cnum, 2 * cnum)
    self.conv_bn1 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.conv_bn2 = GConv(2 * cnum, 2 * cnum, 3, rate=2, padding=2)
    self.conv_bn3 = GConv(2 * cnum, 2 * cnum, 3, rate=4, padding=4)
    self.conv_bn4 = GConv(2 * cnum, 2 * cnum, 3, rate=8, padding=8)
    self.conv_bn5 = GConv(2 * cnum, 2 * cnum, 3, rate=16, padding=16)
    self.conv_bn6 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.conv_bn7 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.up_block1 = GUpsamplingBlock(2 * cnum, cnum)
    self.up_block2 = GUpsamplingBlock(cnum, cnum // 4, cnum_hidden=cnum // 2)
    self.conv_to_rgb = GConv(cnum // 4, cnum_out, 3, 1, activation=None, gated=False)
    self.tanh = nn.Tanh()

  def forward(self, x):
    x = self.down_block2(self.down_block1(self.conv1(x)))
    for i in range(1, 8):
      x = getattr(self, f"conv_bn{i}")(x)
    x = self.up_block2(self.up_block1(x))
    return self.tanh(self.conv_to_rgb(x))


def extract_image_patches(images, ksize, stride, rate=1, padding="auto"):
  padding = rate * (ksize - 1) // 2 if padding == "auto" else padding
  return nn.Unfold(ksize, dilation=rate, padding=padding, stride=stride)(images)


class ContextualAttention(nn.Module):
  """The port's contextual attention (without its flow visualisation)."""

  def __init__(self, ksize=3, stride=1, rate=1, fuse_k=3, softmax_scale=10., n_down=2,
               fuse=False):
    super().__init__()
    self.ksize, self.stride, self.rate, self.fuse_k = ksize, stride, rate, fuse_k
    self.softmax_scale, self.fuse, self.n_down = softmax_scale, fuse, n_down
    self.register_buffer("fuse_weight", torch.eye(fuse_k).view(1, 1, fuse_k, fuse_k))

  def forward(self, f, b, mask):
    raw_fs, raw_bs = list(f.size()), list(b.size())
    kernel = 2 * self.rate
    raw_w = extract_image_patches(b, kernel, self.rate * self.stride)
    n_patches = raw_w.size(2)
    raw_w = raw_w.view(raw_bs[0], raw_bs[1], kernel, kernel, -1).permute(0, 4, 1, 2, 3)
    f = F.interpolate(f, scale_factor=1. / self.rate, mode="nearest")
    b = F.interpolate(b, scale_factor=1. / self.rate, mode="nearest")
    fs, bs = list(f.size()), list(b.size())
    w = extract_image_patches(b, self.ksize, self.stride)
    w = w.view(bs[0], bs[1], self.ksize, self.ksize, n_patches).permute(0, 4, 1, 2, 3)
    mask = F.interpolate(mask, scale_factor=1. / ((2 ** self.n_down) * self.rate),
                         mode="nearest")
    ms = list(mask.size())
    m = extract_image_patches(mask, self.ksize, self.stride)
    m = m.view(ms[0], ms[1], self.ksize, self.ksize, n_patches).permute(0, 4, 1, 2, 3)[0]
    mm = (torch.mean(m, dim=[1, 2, 3], keepdim=True) == 0.).to(torch.float32)
    mm = mm.permute(1, 0, 2, 3)  # the first example's mask, for the whole batch (as the port)
    y = []
    for xi, wi, raw_wi in zip(torch.split(f, 1), torch.split(w, 1), torch.split(raw_w, 1)):
      wi = wi[0]
      norm = torch.sqrt(torch.sum(torch.square(wi), dim=[1, 2, 3], keepdim=True)).clamp_min(1e-4)
      yi = F.conv2d(xi, wi / norm, stride=1, padding=(self.ksize - 1) // 2)
      if self.fuse:
        pad = (self.fuse_k - 1) // 2
        yi = yi.view(1, 1, bs[2] * bs[3], fs[2] * fs[3])
        yi = F.conv2d(yi, self.fuse_weight, stride=1, padding=pad)
        yi = yi.contiguous().view(1, bs[2], bs[3], fs[2], fs[3]).permute(0, 2, 1, 4, 3)
        yi = yi.contiguous().view(1, 1, bs[2] * bs[3], fs[2] * fs[3])
        yi = F.conv2d(yi, self.fuse_weight, stride=1, padding=pad)
        yi = yi.contiguous().view(1, bs[3], bs[2], fs[3], fs[2]).permute(0, 2, 1, 4, 3)
      yi = yi.contiguous().view(1, bs[2] * bs[3], fs[2], fs[3])
      yi = yi * mm
      yi = F.softmax(yi * self.softmax_scale, dim=1) * mm
      y.append(F.conv_transpose2d(yi, raw_wi[0], stride=self.rate, padding=1) / 4.)
    return torch.cat(y, dim=0).contiguous().view(raw_fs), None


class FineGenerator(nn.Module):
  def __init__(self, cnum_in, cnum_out, cnum):
    super().__init__()
    self.conv_conv1 = GConv(cnum_in, cnum // 2, 5, 1, padding=2)
    self.conv_down_block1 = GDownsamplingBlock(cnum // 2, cnum, cnum_hidden=cnum // 2)
    self.conv_down_block2 = GDownsamplingBlock(cnum, 2 * cnum, cnum_hidden=cnum)
    self.conv_conv_bn1 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.conv_conv_bn2 = GConv(2 * cnum, 2 * cnum, 3, rate=2, padding=2)
    self.conv_conv_bn3 = GConv(2 * cnum, 2 * cnum, 3, rate=4, padding=4)
    self.conv_conv_bn4 = GConv(2 * cnum, 2 * cnum, 3, rate=8, padding=8)
    self.conv_conv_bn5 = GConv(2 * cnum, 2 * cnum, 3, rate=16, padding=16)
    self.ca_conv1 = GConv(cnum_in, cnum // 2, 5, 1, padding=2)
    self.ca_down_block1 = GDownsamplingBlock(cnum // 2, cnum, cnum_hidden=cnum // 2)
    self.ca_down_block2 = GDownsamplingBlock(cnum, 2 * cnum)
    self.ca_conv_bn1 = GConv(2 * cnum, 2 * cnum, 3, 1, activation=nn.ReLU())
    self.contextual_attention = ContextualAttention(ksize=3, stride=1, rate=2, fuse_k=3,
                                                    softmax_scale=10, fuse=True, n_down=2)
    self.ca_conv_bn4 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.ca_conv_bn5 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.conv_bn6 = GConv(4 * cnum, 2 * cnum, 3, 1)
    self.conv_bn7 = GConv(2 * cnum, 2 * cnum, 3, 1)
    self.up_block1 = GUpsamplingBlock(2 * cnum, cnum)
    self.up_block2 = GUpsamplingBlock(cnum, cnum // 4, cnum_hidden=cnum // 2)
    self.conv_to_rgb = GConv(cnum // 4, cnum_out, 3, 1, activation=None, gated=False)
    self.tanh = nn.Tanh()

  def forward(self, xnow, mask):
    x = self.conv_down_block2(self.conv_down_block1(self.conv_conv1(xnow)))
    for i in range(1, 6):
      x = getattr(self, f"conv_conv_bn{i}")(x)
    x_hallu = x
    x = self.ca_conv_bn1(self.ca_down_block2(self.ca_down_block1(self.ca_conv1(xnow))))
    x, _ = self.contextual_attention(x, x, mask)
    x = self.ca_conv_bn5(self.ca_conv_bn4(x))
    x = self.conv_bn7(self.conv_bn6(torch.cat([x_hallu, x], dim=1)))
    x = self.up_block2(self.up_block1(x))
    return self.tanh(self.conv_to_rgb(x)), None


class Generator(nn.Module):
  """x = [image * (1 - mask), ones, mask] (cnum_in = channels + 2) -> (stage1, stage2)."""

  def __init__(self, cnum_in=5, cnum_out=3, cnum=48):
    super().__init__()
    self.stage1 = CoarseGenerator(cnum_in, cnum_out, cnum)
    self.stage2 = FineGenerator(cnum_out, cnum_out, cnum)
    self.cnum_in = cnum_in

  def forward(self, x, mask):
    x_stage1 = self.stage1(x)
    x = x_stage1 * mask + x[:, :self.cnum_in - 2] * (1. - mask)
    x_stage2, _ = self.stage2(x, mask)
    return x_stage1, x_stage2


class Conv2DSpectralNorm(nn.Conv2d):
  """Conv2d normalised as torch.nn.utils.spectral_norm (one power iteration per training
  forward; sigma = u^T W v differentiated through W), under the port's parameter names."""

  def __init__(self, cnum_in, cnum_out, kernel_size, stride, padding=0, bias=True, n_iter=1,
               eps=1e-12):
    super().__init__(cnum_in, cnum_out, kernel_size, stride, padding, bias=bias)
    self.n_iter, self.eps = n_iter, eps
    fan_in = self.weight[0].numel()
    self.register_buffer("weight_u", F.normalize(torch.randn(cnum_out, 1), dim=0, eps=eps))
    self.register_buffer("weight_v", F.normalize(torch.randn(fan_in, 1), dim=0, eps=eps))

  def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
    if prefix + "weight_v" not in state_dict and prefix + "weight_u" in state_dict:
      # A port checkpoint: v as the next power iteration would compute it.
      w = state_dict[prefix + "weight"].flatten(1)
      state_dict[prefix + "weight_v"] = F.normalize(w.t() @ state_dict[prefix + "weight_u"],
                                                    dim=0, eps=self.eps)
    super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

  def forward(self, x):
    w = self.weight.flatten(1)
    if self.training:
      with torch.no_grad():
        for _ in range(self.n_iter):
          self.weight_v = F.normalize(w.t() @ self.weight_u, dim=0, eps=self.eps)
          self.weight_u = F.normalize(w @ self.weight_v, dim=0, eps=self.eps)
    sigma = (self.weight_u.t() @ w @ self.weight_v).squeeze()
    return self._conv_forward(x, self.weight / sigma, self.bias)


class DConv(nn.Module):
  def __init__(self, cnum_in, cnum_out, ksize=5, stride=2, padding="auto"):
    super().__init__()
    padding = (ksize - 1) // 2 if padding == "auto" else padding
    self.conv_sn = Conv2DSpectralNorm(cnum_in, cnum_out, ksize, stride, padding)
    self.leaky = nn.LeakyReLU(negative_slope=0.2)

  def forward(self, x):
    return self.leaky(self.conv_sn(x))


class Discriminator(nn.Module):
  """SN-PatchGAN on [image, mask] (cnum_in = channels + 1) -> flattened logits."""

  def __init__(self, cnum_in=4, cnum=64):
    super().__init__()
    self.conv1 = DConv(cnum_in, cnum)
    self.conv2 = DConv(cnum, 2 * cnum)
    self.conv3 = DConv(2 * cnum, 4 * cnum)
    self.conv4 = DConv(4 * cnum, 4 * cnum)
    self.conv5 = DConv(4 * cnum, 4 * cnum)
    self.conv6 = DConv(4 * cnum, 4 * cnum)

  def forward(self, x):
    for i in range(1, 7):
      x = getattr(self, f"conv{i}")(x)
    return x.flatten(1)


def generator_input(image, mask):
  """[image * (1 - mask), ones, ones * mask], as the official build_inpaint_net."""
  incomplete = image * (1. - mask)
  ones = torch.ones_like(incomplete)[:, 0:1]
  return torch.cat([incomplete, ones, ones * mask], dim=1)


def make_trainer(netG, netD, *, device, precision="f32", l1_weight=1.0, adv_weight=1.0,
                 lr=1e-4, beta1=0.5, beta2=0.999):
  """The port's training_loop iteration on `device` as step(image, mask) -> (d_loss, g_loss),
  NCHW, image in [-1, 1], mask (B, 1, H, W) 1 = hole (the port tiles one mask over the
  batch; contextual attention reads the first example's). D: hinge 0.5 * mean(relu(1 - D
  (real, m))) + 0.5 * mean(relu(1 + D(fake composite detached, m))), one D forward on the
  concatenated batch; then G: adv_weight * -mean(D(composite, m)) through the updated D,
  plus l1_weight * (mean|image - coarse| + mean|image - refined|). Adam (1e-4, (0.5,
  0.999)) for both, as configs/train.yaml. bf16: autocast, losses in float32."""
  optD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(beta1, beta2))
  optG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(beta1, beta2))
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))

  def step(image, mask):
    b = image.size(0)
    incomplete = image * (1. - mask)
    with autocast:
      x1, x2 = netG(generator_input(image, mask), mask)
    x1, x2 = x1.float(), x2.float()
    complete = x2 * mask + incomplete * (1. - mask)
    with autocast:
      logits = netD(torch.cat([torch.cat([image, mask], 1),
                               torch.cat([complete.detach(), mask], 1)])).float()
    d_real, d_gen = torch.split(logits, b)
    d_loss = 0.5 * torch.mean(torch.relu(1. - d_real)) + 0.5 * torch.mean(torch.relu(1. + d_gen))
    optD.zero_grad()
    d_loss.backward()
    optD.step()
    ae = l1_weight * (torch.mean(torch.abs(image - x1)) + torch.mean(torch.abs(image - x2)))
    with autocast:
      d_gen = netD(torch.cat([complete, mask], 1)).float()
    g_loss = adv_weight * -torch.mean(d_gen) + ae
    optG.zero_grad()
    g_loss.backward()
    optG.step()
    return d_loss.detach(), g_loss.detach()

  return step
