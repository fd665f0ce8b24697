"""StyleGAN2 (Karras et al. 2020, config F as in NVIDIA's stylegan2-ada-pytorch) and its
training loop in PyTorch: the benchmark peer of jaxgan's `stylegan2_64` / `stylegan2_256`
(jaxgan/models/stylegan2.py, jaxgan/train/stylegan2_step.py), written from the paper and
NVIDIA's published architecture, without their custom CUDA kernels (the "reference"
PyTorch path their code falls back to).

- G: mapping (pixel norm, equalized dense layers, lr multiplier 0.01, tracked w_avg),
  skip-architecture synthesis from a learned 4x4 constant: two modulated/demodulated 3x3
  convolutions per resolution (the first upsamples: transposed conv + [1,3,3,1] FIR blur),
  per-pixel noise with a learned strength, leaky ReLU * sqrt(2), clamp; a modulated 1x1
  toRGB per resolution summed into FIR-upsampled RGB skips.
- D: ResNet: fromRGB at the top, per resolution conv3x3 + FIR-blurred stride-2 conv3x3 with
  a 1x1 FIR-downsampled skip (both * sqrt(1/2)); minibatch stddev, conv3x3, dense, dense.
- One step = NVIDIA's four phases: G main (non-saturating loss, style mixing 0.9), G reg
  (path length on batch // 2 every 4 steps), D main (logistic loss on reals and on fakes
  of the updated G), D reg (R1, gamma / 2, every 16 steps); each reg phase its own Adam
  update with its loss times the interval, and Adam's lr and betas corrected by
  c = interval / (interval + 1) (lazy regularisation). NaN/inf gradients are replaced as
  NVIDIA's loop does; then the G EMA with their half-life ramp-up.

Parameter names follow NVIDIA's modules (mapping.fc0, synthesis.b8.conv0.affine, b64.skip,
b4.fc, ...), so `jaxgan.models.torch_import.stylegan2_*_variables` reads this module's
state_dict and NVIDIA's alike.

Two deliberate differences from NVIDIA's code, both jaxgan's: the minibatch-stddev groups
are consecutive examples (theirs are strided: both are random groups of the batch), and
each example draws its own style-mixing cutoff (theirs: one per batch).

torch.compile cannot differentiate twice (R1 and the path length are gradients of
gradients), so a compiled peer runs its lazy reg phases on the eager modules.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def bias_act(x, bias, act: bool, gain: float = 1.0, clamp: float | None = None):
  """x + bias (over dim 1), leaky ReLU(0.2) * sqrt(2), times gain, clipped to +-clamp * gain."""
  if bias is not None:
    x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2)).to(x.dtype)
  if act:
    x = F.leaky_relu(x, 0.2) * SQRT2
  if gain != 1.0:
    x = x * gain
  if clamp:
    x = x.clamp(-clamp * gain, clamp * gain)
  return x


def fir_filter() -> torch.Tensor:
  f = torch.tensor(FIR_TAPS)
  f = torch.outer(f, f)
  return f / f.sum()


def fir(x, f, pad: tuple[int, int], down: int = 1, gain: float = 1.0):
  """Pad by (before, after) on both axes, depthwise-convolve with the symmetric 2-D FIR
  filter times gain, keep every `down`-th sample (NVIDIA's upfirdn2d with up = 1)."""
  c = x.shape[1]
  x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
  w = (f * gain).to(x.dtype)[None, None].expand(c, 1, *f.shape)
  return F.conv2d(x, w, stride=down, groups=c)


def upsample(x, f):
  """2x FIR upsampling: zero-insert (sample i at 2i), pad (2, 1), filter with gain 4."""
  b, c, h, w = x.shape
  x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).reshape(b, c, 2 * h, 2 * w)
  return fir(x, f, (2, 1), gain=4.0)


def conv_up(x, weight, f):
  """A 3x3 'same' conv at twice the resolution: the transposed conv, then the FIR blur."""
  x = F.conv_transpose2d(x, weight.transpose(0, 1).flip([2, 3]).to(x.dtype), stride=2)
  return fir(x, f, (1, 1), gain=4.0)


def conv_down(x, weight, f):
  """Conv at half the resolution: blur then stride-2 (3x3), or blur-subsample then 1x1."""
  if weight.shape[-1] == 1:
    return F.conv2d(fir(x, f, (1, 1), down=2), weight.to(x.dtype))
  return F.conv2d(fir(x, f, (2, 2)), weight.to(x.dtype), stride=2)


class FullyConnected(nn.Module):
  """Equalized dense layer: x @ (W * lr_mul / sqrt(in))^T + b * lr_mul, optional activation."""

  def __init__(self, in_features, out_features, act=False, lr_mul=1.0, bias_init=0.0):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
    self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
    self.act, self.lr_mul = act, lr_mul
    self.weight_gain = lr_mul / math.sqrt(in_features)

  def forward(self, x):
    x = F.linear(x, (self.weight * self.weight_gain).to(x.dtype))
    return bias_act(x, self.bias * self.lr_mul, self.act)


class Conv(nn.Module):
  """Equalized conv ('same', or FIR-down by 2), bias, optional activation, gain and clamp."""

  def __init__(self, in_ch, out_ch, kernel, down=False, bias=True, act=True, clamp=None):
    super().__init__()
    self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
    self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
    self.down, self.act, self.clamp = down, act, clamp
    self.weight_gain = 1 / math.sqrt(in_ch * kernel * kernel)
    self.register_buffer("resample_filter", fir_filter())

  def forward(self, x, gain=1.0):
    w = self.weight * self.weight_gain
    if self.down:
      x = conv_down(x, w, self.resample_filter)
    else:
      x = F.conv2d(x, w.to(x.dtype), padding=w.shape[-1] // 2)
    return bias_act(x, self.bias, self.act, gain, self.clamp)


def modulated_conv(x, weight, styles, f, demodulate=True, up=False):
  """NVIDIA's non-fused modulated conv (their training path): scale the input channels by
  the styles, one shared conv, scale the output channels by the demodulation."""
  x = x * styles[:, :, None, None].to(x.dtype)
  if up:
    x = conv_up(x, weight, f)
  else:
    x = F.conv2d(x, weight.to(x.dtype), padding=weight.shape[-1] // 2)
  if demodulate:
    d = torch.rsqrt(styles.float().square() @ weight.float().square().sum([2, 3]).T + 1e-8)
    x = x * d[:, :, None, None].to(x.dtype)
  return x


class MappingNetwork(nn.Module):
  def __init__(self, z_dim=512, w_dim=512, num_layers=8, lr_mul=0.01, w_avg_beta=0.995):
    super().__init__()
    self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
    for i in range(num_layers):
      setattr(self, f"fc{i}", FullyConnected(z_dim if i == 0 else w_dim, w_dim, act=True,
                                             lr_mul=lr_mul))
    self.register_buffer("w_avg", torch.zeros(w_dim))

  def forward(self, z, update_w_avg=False):
    x = z.float()
    x = x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)
    for i in range(self.num_layers):
      x = getattr(self, f"fc{i}")(x)
    x = x.float()
    if update_w_avg:
      self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
    return x


class SynthesisLayer(nn.Module):
  def __init__(self, in_ch, out_ch, w_dim, up=False, clamp=None):
    super().__init__()
    self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
    self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
    self.noise_strength = nn.Parameter(torch.zeros([]))
    self.bias = nn.Parameter(torch.zeros(out_ch))
    self.up, self.clamp = up, clamp
    self.register_buffer("resample_filter", fir_filter())

  def forward(self, x, w, noise):
    x = modulated_conv(x, self.weight, self.affine(w), self.resample_filter, up=self.up)
    if noise is not None:
      x = x + (noise * self.noise_strength).to(x.dtype)
    return bias_act(x, self.bias, True, clamp=self.clamp)


class ToRGB(nn.Module):
  def __init__(self, in_ch, out_ch, w_dim, clamp=None):
    super().__init__()
    self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
    self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
    self.bias = nn.Parameter(torch.zeros(out_ch))
    self.weight_gain, self.clamp = 1 / math.sqrt(in_ch), clamp

  def forward(self, x, w):
    styles = self.affine(w) * self.weight_gain
    x = modulated_conv(x, self.weight, styles, None, demodulate=False)
    return bias_act(x, self.bias, False, clamp=self.clamp)


class SynthesisBlock(nn.Module):
  """One resolution: the 4x4 constant and conv1 (res 4), or conv0 (up) and conv1; toRGB."""

  def __init__(self, in_ch, out_ch, w_dim, res, img_channels, clamp):
    super().__init__()
    self.res = res
    if res == 4:
      self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
    else:
      self.conv0 = SynthesisLayer(in_ch, out_ch, w_dim, up=True, clamp=clamp)
    self.conv1 = SynthesisLayer(out_ch, out_ch, w_dim, clamp=clamp)
    self.torgb = ToRGB(out_ch, img_channels, w_dim, clamp=clamp)
    self.register_buffer("resample_filter", fir_filter())


class SynthesisNetwork(nn.Module):
  def __init__(self, w_dim, image_size, img_channels, channel_base=32768, channel_max=512,
               clamp=None):
    super().__init__()
    self.log2 = int(math.log2(image_size))
    ch = lambda res: min(channel_base // res, channel_max)
    self.resolutions = [2 ** r for r in range(2, self.log2 + 1)]
    for res in self.resolutions:
      setattr(self, f"b{res}", SynthesisBlock(ch(res // 2) if res > 4 else 0, ch(res), w_dim,
                                              res, img_channels, clamp))
    self.num_ws = 2 * self.log2 - 2

  def forward(self, ws, noise=None):
    """ws (B, num_ws, w_dim); noise: a list of (B, 1, res, res) per layer, or None: random."""
    def layer_noise(i, res):
      if noise is not None:
        return noise[i]
      return torch.randn(ws.shape[0], 1, res, res, device=ws.device, dtype=ws.dtype)

    b4 = self.b4
    x = b4.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
    x = b4.conv1(x, ws[:, 0], layer_noise(0, 4))
    img = b4.torgb(x, ws[:, 1])
    w_idx, layer = 1, 1
    for res in self.resolutions[1:]:
      block = getattr(self, f"b{res}")
      x = block.conv0(x, ws[:, w_idx], layer_noise(layer, res))
      x = block.conv1(x, ws[:, w_idx + 1], layer_noise(layer + 1, res))
      w_idx, layer = w_idx + 2, layer + 2
      img = upsample(img, block.resample_filter) + block.torgb(x, ws[:, w_idx]).to(img.dtype)
    return img.float()


class Generator(nn.Module):
  """G(z, mix_z, cutoff, noise) -> (images (B, C, H, W), ws); w_avg tracked in training."""

  def __init__(self, image_size, img_channels=3, z_dim=512, w_dim=512, mapping_layers=8,
               channel_base=32768, channel_max=512, conv_clamp=None, w_avg_beta=0.995):
    super().__init__()
    self.z_dim = z_dim
    self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, w_avg_beta=w_avg_beta)
    self.synthesis = SynthesisNetwork(w_dim, image_size, img_channels, channel_base, channel_max,
                                      conv_clamp)
    self.num_ws = self.synthesis.num_ws

  def map(self, z, mix_z=None, cutoff=None):
    ws = self.mapping(z, update_w_avg=self.training).unsqueeze(1).repeat(1, self.num_ws, 1)
    if mix_z is not None:
      layer = torch.arange(self.num_ws, device=z.device)[None, :, None]
      ws = torch.where(layer < cutoff[:, None, None], ws, self.mapping(mix_z)[:, None])
    return ws

  def forward(self, z, mix_z=None, cutoff=None, noise=None):
    ws = self.map(z, mix_z, cutoff)
    return self.synthesis(ws, noise), ws


class DiscriminatorBlock(nn.Module):
  def __init__(self, in_ch, tmp_ch, out_ch, img_channels, top, clamp):
    super().__init__()
    if top:
      self.fromrgb = Conv(img_channels, tmp_ch, 1, clamp=clamp)
    self.conv0 = Conv(tmp_ch, tmp_ch, 3, clamp=clamp)
    self.conv1 = Conv(tmp_ch, out_ch, 3, down=True, clamp=clamp)
    self.skip = Conv(tmp_ch, out_ch, 1, down=True, bias=False, act=False)

  def forward(self, x):
    g = math.sqrt(0.5)
    y = self.skip(x, gain=g)
    return y + self.conv1(self.conv0(x), gain=g)


def minibatch_stddev(x, group_size, num_channels=1):
  """jaxgan's layers.minibatch_stddev in NCHW: groups of consecutive examples."""
  b, c, h, w = x.shape
  g = min(group_size, b)
  y = x.float().reshape(b // g, g, num_channels, c // num_channels, h, w)
  y = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=[2, 3, 4])        # (b/g, F)
  y = y[:, None, :, None, None].expand(b // g, g, num_channels, h, w).reshape(b, num_channels, h, w)
  return torch.cat([x, y.to(x.dtype)], dim=1)


class DiscriminatorEpilogue(nn.Module):
  def __init__(self, in_ch, mbstd_group, mbstd_channels, clamp):
    super().__init__()
    self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
    self.conv = Conv(in_ch + mbstd_channels, in_ch, 3, clamp=clamp)
    self.fc = FullyConnected(in_ch * 16, in_ch, act=True)
    self.out = FullyConnected(in_ch, 1)

  def forward(self, x):
    x = self.conv(minibatch_stddev(x, self.mbstd_group, self.mbstd_channels))
    return self.out(self.fc(x.flatten(1)))  # NCHW order, as NVIDIA's


class Discriminator(nn.Module):
  def __init__(self, image_size, img_channels=3, channel_base=32768, channel_max=512,
               mbstd_group=4, mbstd_channels=1, conv_clamp=None):
    super().__init__()
    ch = lambda res: min(channel_base // res, channel_max)
    self.resolutions = [2 ** r for r in range(int(math.log2(image_size)), 2, -1)]
    for res in self.resolutions:
      setattr(self, f"b{res}", DiscriminatorBlock(0, ch(res), ch(res // 2), img_channels,
                                                  res == image_size, conv_clamp))
    self.b4 = DiscriminatorEpilogue(ch(4), mbstd_group, mbstd_channels, conv_clamp)

  def forward(self, img):
    top = getattr(self, f"b{self.resolutions[0]}")
    x = top.fromrgb(img)
    for res in self.resolutions:
      x = getattr(self, f"b{res}")(x)
    return self.b4(x)[:, 0].float()


def _eager(module):
  """The module under torch.compile's wrapper (itself if not compiled)."""
  return getattr(module, "_orig_mod", module)


def make_trainer(netG, netD, *, device, precision="f32", lr=0.0025, betas=(0.0, 0.99),
                 r1_gamma=10.0, r1_interval=16, pl_weight=2.0, pl_interval=4, pl_decay=0.01,
                 pl_batch_shrink=2, mixing_prob=0.9, ema_kimg=10.0, ema_rampup=0.05):
  """NVIDIA's training loop as `step(real, given=None) -> metrics`.

  `given` (for tests) gives the step's random draws instead of torch's: {"g_main",
  "g_reg", "d_main": (z, mix_z, cutoff, noise list), "pl_noise": (B // shrink, C, H, W)}.
  """
  G, D = netG, netD
  G_ema = copy.deepcopy(_eager(G)).eval().requires_grad_(False)
  eager_G, eager_D = _eager(G), _eager(D)

  def adam(params, interval):
    c = interval / (interval + 1) if interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=1e-8)

  optG, optD = adam(G.parameters(), pl_interval), adam(D.parameters(), r1_interval)
  autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
              else torch.autocast(device.type, enabled=False))
  pl_mean = torch.zeros([], device=device)
  num_ws, z_dim = eager_G.num_ws, eager_G.z_dim
  state = {"step": 0, "nimg": 0}

  def draw(given, phase, n):
    """The phase's (z, mix_z, cutoff, noise): as given, or drawn (noise: inside G)."""
    if phase in given:
      return given[phase]
    z = torch.randn(n, z_dim, device=device)
    mix_z = torch.randn(n, z_dim, device=device)
    cutoff = torch.randint(1, num_ws, (n,), device=device)
    cutoff = torch.where(torch.rand(n, device=device) < mixing_prob, cutoff,
                         torch.full_like(cutoff, num_ws))
    return z, mix_z, cutoff, None

  def update(module, opt, loss):
    """Backward, NaN/inf-free gradients, Adam; the module is left frozen (NVIDIA freezes
    every module outside its phase, so no other network's gradients are computed)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    module.requires_grad_(False)
    params = [p for p in module.parameters() if p.grad is not None]
    flat = torch.cat([p.grad.flatten() for p in params])  # one op on all gradients, as NVIDIA's
    torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
    for p, g in zip(params, flat.split([p.numel() for p in params])):
      p.grad = g.reshape(p.shape)
    opt.step()

  G.requires_grad_(False)
  D.requires_grad_(False)
  G.train()
  D.train()

  def step(real, given=None):
    nonlocal pl_mean
    given = given or {}
    n, k = real.shape[0], state["step"]
    metrics = {}

    # G main.
    G.requires_grad_(True)
    with autocast:
      img, _ = G(*draw(given, "g_main", n))
      g_loss = F.softplus(-D(img)).mean()
    update(G, optG, g_loss)
    metrics["g_loss"] = g_loss.detach()

    # G reg: the path length, lazily.
    if pl_interval > 0 and k % pl_interval == 0:
      m = n // pl_batch_shrink
      eager_G.requires_grad_(True)
      with autocast:
        img, ws = eager_G(*draw(given, "g_reg", m))
        pl_noise = given.get("pl_noise")
        if pl_noise is None:
          pl_noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        grads, = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
        lengths = grads.float().square().sum(2).mean(1).sqrt()
        new_mean = pl_mean.lerp(lengths.mean(), pl_decay)  # differentiated through, as NVIDIA's
        penalty = (lengths - new_mean).square()
        pl_loss = penalty.mean() * pl_weight * pl_interval
      update(eager_G, optG, pl_loss)
      pl_mean = new_mean.detach()
      metrics["pl_penalty"] = penalty.mean().detach()
    metrics["pl_mean"] = pl_mean

    # D main, on fakes of the updated G.
    with torch.no_grad(), autocast:
      fake, _ = G(*draw(given, "d_main", n))
    D.requires_grad_(True)
    with autocast:
      real_logits, fake_logits = D(real), D(fake)
      d_loss = (F.softplus(-real_logits) + F.softplus(fake_logits)).mean()
    update(D, optD, d_loss)
    metrics["d_loss"] = d_loss.detach()

    # D reg: R1 on reals, lazily.
    if r1_interval > 0 and k % r1_interval == 0:
      eager_D.requires_grad_(True)
      x = real.detach().requires_grad_(True)
      with autocast:
        grads, = torch.autograd.grad(eager_D(x).sum(), x, create_graph=True)
        r1 = grads.float().square().sum([1, 2, 3]).mean()
      update(eager_D, optD, r1 * (r1_gamma / 2) * r1_interval)
      metrics["r1_penalty"] = r1.detach()

    # G EMA: half-life ema_kimg, ramped up over the first images.
    ema_nimg = ema_kimg * 1000
    if ema_rampup > 0:
      ema_nimg = min(ema_nimg, state["nimg"] * ema_rampup)
    beta = 0.5 ** (n / max(ema_nimg, 1e-8))
    with torch.no_grad():
      ema_p, p = list(G_ema.parameters()), list(eager_G.parameters())
      torch._foreach_lerp_(ema_p, p, 1.0 - beta)
      for b_ema, b in zip(G_ema.buffers(), eager_G.buffers()):
        b_ema.copy_(b)
    state["step"], state["nimg"] = k + 1, state["nimg"] + n
    return metrics

  step.G_ema = G_ema
  return step


def networks(config) -> tuple[Generator, Discriminator]:
  """G and D of a jaxgan StyleGAN2 experiment config (its `model` group)."""
  m, size, c = config.model, config.image_size, config.channels
  g = Generator(size, c, m.latent_dim, m.w_dim, m.mapping_layers, m.channel_base, m.channel_max,
                m.get("conv_clamp"))
  d = Discriminator(size, c, m.channel_base, m.channel_max, m.get("mbstd_group", 4), 1,
                    m.get("conv_clamp"))
  return g, d


def trainer_options(config) -> dict:
  """make_trainer's keyword arguments from the config (G's Adam serves both networks)."""
  o, adam = config.stylegan2, config.optimizer_g
  return dict(lr=adam.lr, betas=(adam.b1, adam.b2), r1_gamma=o.r1_gamma,
              r1_interval=o.r1_interval, pl_weight=o.pl_weight, pl_interval=o.pl_interval,
              pl_decay=o.pl_decay, pl_batch_shrink=o.pl_batch_shrink,
              mixing_prob=o.mixing_prob, ema_kimg=o.ema_kimg, ema_rampup=o.ema_rampup)
