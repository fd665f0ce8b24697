"""Train-step throughput of every jaxgan model beside its PyTorch peers, in one run.

  python -m benchmarks.run --models dcgan64,dcgan32 [--batch-size B] [--precision f32,bf16]
                           [--peers torch,torch-compile] [--json OUT] [--windows 5]

For each (model, precision) it builds jaxgan's train step and the peers' on the same
device, with the same batch of synthetic, device-resident data (no TensorFlow, no
dataset), compiles/warms each, then times windows round-robin across implementations
(so a noisy neighbour slows them alike) and reports the median. Per record: compile
time, steps/s, images/s, sec/kimg, peak device memory, FLOPs per step from XLA's cost
analysis of the step with native convolutions (`model_flops`), achieved FLOP/s and MFU
against the device's peak (benchmarks/peaks.py).
"""

import argparse
import datetime
import functools
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field

import jax
import numpy as np

from benchmarks import peaks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class ModelSpec:
  """A benchmark model: an experiment config plus overrides, and its PyTorch peer if any."""
  config: str                        # experiments/NAME.py
  overrides: dict = field(default_factory=dict)
  batch_size: int = 128
  torch_peer: str | None = None      # "dcgan", "sngan", ... (benchmarks/torch_<peer>.py) or None
  kimg: bool = False                 # report sec/kimg (the StyleGAN family's unit)


MODELS = {
    # The PyTorch DCGAN tutorial: 64x64x3, nz=100, ngf=ndf=64, batch 128.
    "dcgan64": ModelSpec("dcgan_base.py", dict(image_size=64, channels=3), 128, "dcgan"),
    "dcgan32": ModelSpec("dcgan_base.py", dict(image_size=32, channels=3), 128, "dcgan"),
    # SNGAN ResNet, CIFAR-10 (Miyato et al. 2018): one step = 5 D updates of 64 + 1 G update.
    "sngan32": ModelSpec("sngan_cifar10.py", {}, 320, "sngan"),
    # StyleGAN2, NVIDIA's 'auto' config on 1 GPU (batch 16; lazy R1 and path length inside
    # the step, so a step's cost depends on step % 16: the timed windows average over it).
    # NVIDIA publish 21.6-24.2 sec/kimg at 256 on one V100 (stylegan2-ada-pytorch README).
    # Peer: benchmarks/torch_stylegan2.py (NVIDIA's networks and four-phase loop, eager ops).
    "stylegan2_64": ModelSpec("stylegan2_ffhq256.py", dict(image_size=64), 16, "stylegan2",
                              kimg=True),
    "stylegan2_256": ModelSpec("stylegan2_ffhq256.py", {}, 16, "stylegan2", kimg=True),
    # pix2pix facades (Isola et al. 2017): U-Net 256 + 70x70 PatchGAN, batch 1 as the paper.
    "pix2pix256": ModelSpec("pix2pix_facades.py", dict(image_size=256, channels=3), 1, "pix2pix"),
    # CycleGAN horse2zebra (Zhu et al. 2017): two ResNet-9 Gs + two PatchGANs, pool of 50, batch 1.
    "cyclegan256": ModelSpec("cyclegan_horse2zebra.py", dict(image_size=256, channels=3), 1,
                             "cyclegan"),
    # DeepFill v2 on Places2 (Yu et al. 2019): gated coarse + refine G with contextual
    # attention, SN-PatchGAN D; 256x256, batch 16. Both sides get the same fixed holes.
    "inpaint256": ModelSpec("deepfill_places2.py", dict(image_size=256, channels=3), 16,
                            "inpaint"),
    # SRGAN-VGG54 x4 (Ledig et al. 2017): SRResNet (16 blocks) + SRGAN D on 96x96 HR crops,
    # MSE of VGG19 relu5_4 features (random weights: the same arithmetic) + 1e-3 GAN, batch 16.
    "srgan_x4": ModelSpec("srgan_div2k.py", dict(image_size=96, channels=3), 16, "srgan"),
    # StyleGAN2-ADA (stylegan2_ada_ffhq256.py: the 'bgc' pipeline on every D input, p tuned
    # in the step) started at p = 0.5, where limited-data runs settle: the pipeline's
    # padding, and so its cost, grows with the transforms drawn (jaxgan.ada.warp). No peer;
    # the ratio to the StyleGAN2 row is ADA's cost.
    "stylegan2_ada_64": ModelSpec("stylegan2_ada_ffhq256.py",
                                  {"image_size": 64, "stylegan2.augment_p": 0.5}, 16, kimg=True),
    "stylegan2_ada_256": ModelSpec("stylegan2_ada_ffhq256.py", {"stylegan2.augment_p": 0.5}, 16,
                                   kimg=True),
}


@dataclass
class Record:
  model: str
  impl: str
  device: str
  n_devices: int
  batch_size: int
  precision: str
  steps_per_s: float
  images_per_s: float
  sec_per_kimg: float
  compile_s: float
  peak_mem_bytes: int | None
  flops_per_step: float | None
  achieved_flops_per_s: float | None
  peak_flops_per_s: float | None
  mfu: float | None
  windows: list
  versions: dict
  date: str
  command: str
  note: str = ""
  tf32: str = ""     # the float32 matrix-unit settings the implementation ran with
  peak_mem_what: str = ""  # xla_program_footprint | process_allocator_peak | torch_max_memory_allocated_after_warmup


class Impl:
  """One implementation: `run(n)` does n train steps and waits for them."""
  name: str
  compile_s: float
  flops_per_step: float | None = None
  tf32: str = ""
  peak_mem_what: str = ""   # which peak peak_mem_bytes() measured
  cycle: int = 1            # steps of a full cycle of lazy phases: windows are whole cycles

  def run(self, n: int) -> None:
    raise NotImplementedError

  def peak_mem_bytes(self) -> int | None:
    return None


# --- float32 precision ----------------------------------------------------------------------
# PyTorch runs float32 convolutions on TF32 tensor cores by default (cudnn.allow_tf32) but not
# float32 matmuls; XLA's default precision has its own rules. `--tf32 on|off` sets both
# frameworks alike, so an f32 ratio compares the same arithmetic; `default` leaves each as is.
TF32_MODES = ("default", "on", "off")


def set_jax_tf32(mode: str) -> None:
  if mode != "default":
    jax.config.update("jax_default_matmul_precision",
                      "tensorfloat32" if mode == "on" else "highest")


def jax_tf32_setting() -> str:
  return f"jax_default_matmul_precision={jax.config.jax_default_matmul_precision}"


def set_torch_tf32(torch, mode: str) -> str:
  if mode != "default":
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = mode == "on"
  return (f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32},"
          f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")


# --- jaxgan ----------------------------------------------------------------------------------

class JaxganImpl(Impl):
  def __init__(self, spec: ModelSpec, batch: int, precision: str, devices, width: int | None):
    from jaxgan.train import build, parallel, steps
    from jaxgan.train.state import init_state
    self.name = "jaxgan"
    self.tf32 = jax_tf32_setting()
    config = spec_config(spec, width)
    self.cycle = lazy_cycle(config)
    config.batch_size = batch
    config.compute_dtype = {"f32": "float32", "bf16": "bfloat16"}[precision]
    gan = build.build_gan(config)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(batch, mesh)
    self.devices = devices
    self._state = parallel.jit_init(
        functools.partial(init_state, gan, 0, build.image_shape(config)), mesh)()
    self._batch = parallel.global_batch(synthetic_batch(config, batch), mesh)
    step = parallel.jit_train_step(functools.partial(steps.gan_train_step, gan=gan), mesh)
    t0 = time.perf_counter()
    self._step = step.lower(self._state, self._batch).compile()
    self._state, _ = self._step(self._state, self._batch)  # first execution: allocations, autotune
    jax.block_until_ready(self._state)
    self.compile_s = time.perf_counter() - t0
    self.flops_per_step = model_flops(config)

  def run(self, n: int) -> None:
    for _ in range(n):
      self._state, _ = self._step(self._state, self._batch)
    jax.block_until_ready(self._state)

  def peak_mem_bytes(self) -> int | None:
    # What XLA allocates for the compiled step: arguments (state, batch) + outputs - donated
    # buffers + its temporaries (activations, scratch), from the buffer assignment; per
    # program, unlike the allocator's peak_bytes_in_use, the whole process's so far.
    # (peak_memory_in_bytes alone leaves out the temporaries on XLA:CPU: measured 79 MiB,
    # parameters and Adam state, against 1,032 MiB of temporaries for DCGAN-64 at 128.)
    try:
      m = self._step.memory_analysis()
      total = (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
               + m.temp_size_in_bytes)
    except Exception:
      total = 0
    if total > 0:
      self.peak_mem_what = "xla_program_footprint"
      return int(total)
    stats = [d.memory_stats() for d in self.devices]
    if not all(stats) or any("peak_bytes_in_use" not in s for s in stats):
      return None  # XLA:CPU keeps no allocator statistics
    self.peak_mem_what = "process_allocator_peak"
    return max(s["peak_bytes_in_use"] for s in stats)


def batch_shapes(config, batch: int) -> dict:
  """The train step's batch as ShapeDtypeStructs: images and labels, and the input images
  of a translation model."""
  from jaxgan import models
  from jaxgan.train import build
  shape = (batch, *build.image_shape(config))
  out = {"image": jax.ShapeDtypeStruct(shape, np.float32),
         "label": jax.ShapeDtypeStruct((batch,), np.int32)}
  if build.is_translation(config):
    out["input"] = jax.ShapeDtypeStruct((*shape[:-1], models.input_channels(config)), np.float32)
  if config.model.name in models.SUPERRES_MODELS:  # the low-resolution input
    s = models.superres_scale(config)
    out["input"] = jax.ShapeDtypeStruct((batch, shape[1] // s, shape[2] // s, shape[3]),
                                        np.float32)
  if config.model.name in models.INPAINT_MODELS:  # given, so the peers fill the same holes
    out["mask"] = jax.ShapeDtypeStruct((*shape[:-1], 1), np.float32)
  return out


def synthetic_batch(config, batch: int) -> dict:
  """Host arrays of batch_shapes: images uniform in [-1, 1], zero labels, and the
  holes of an inpainting model: DeepFill v2's masks (data/masks.py, seed 0)."""
  rng = np.random.default_rng(0)
  out = {}
  for k, v in batch_shapes(config, batch).items():
    if k == "mask":
      from jaxgan.data import masks
      out[k] = np.asarray(masks.random_masks(jax.random.PRNGKey(0), np.arange(batch),
                                             v.shape[1]), np.float32)
    elif v.dtype == np.float32:
      out[k] = rng.uniform(-1, 1, v.shape).astype(np.float32)
    else:
      out[k] = np.zeros(v.shape, v.dtype)
  return out


def spec_config(spec: ModelSpec, width: int | None = None):
  """The experiment config of a benchmark model with its overrides (and --width): what
  jaxgan trains and what its PyTorch peer builds."""
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(os.path.join(REPO, "experiments", spec.config))
  for k, v in spec.overrides.items():  # "group.field" sets a field of a group
    *groups, name = k.split(".")
    target = config
    for g in groups:
      target = target[g]
    target[name] = v
  if width:
    set_width(config, width)
  return config


def lazy_cycle(config) -> int:
  """Steps after which StyleGAN2's lazy phases repeat (lcm of the R1 and path-length
  intervals); 1 for steps without lazy phases. A window of whole cycles holds the same
  share of regularised steps wherever it starts."""
  import math
  if config.model.name != "stylegan2":
    return 1
  o = config.stylegan2
  return math.lcm(*[max(int(o.get(k, 0)), 1) for k in ("r1_interval", "pl_interval")])


def set_width(config, width: int) -> None:
  """Shrink a model for smoke runs: DCGAN-style widths, or StyleGAN2's channel_max (with
  channel_base so that the top resolution still has a few channels)."""
  if config.model.name == "stylegan2":
    config.model.channel_max = width
    config.model.channel_base = width * config.image_size // 2
  else:
    config.model.g_width = config.model.d_width = width


def model_flops(config) -> float | None:
  """FLOPs of one train step of `config` (global batch), from XLA's cost analysis of the
  step as lowered with native `lax` convolutions, before any backend rewriting.

  Counted before optimisation on purpose: XLA:GPU turns convolutions into cuDNN custom calls
  that its cost analysis does not count (measured: 1.4 of 253 GFLOP on an H200), and on CPU
  jaxgan runs rearranged convolutions that do extra work on zero taps. One count of the
  model's arithmetic serves every device, formulation and peer.

  StyleGAN2: XLA counts a lax.cond's branches as if taken every step, so the count is the
  step without lazy phases plus each phase's extra FLOPs divided by its interval (the mean
  step over a full cycle).
  """
  config = config.copy_and_resolve_references()
  config.conv_impl = "lax"
  if config.model.name != "stylegan2":
    return _step_flops(config)
  lazy = [k for k in ("r1_interval", "pl_interval") if config.stylegan2.get(k, 0)]

  def only(kept):
    c = config.copy_and_resolve_references()
    for k in lazy:
      if k != kept:
        c.stylegan2[k] = 0
    return _step_flops(c)

  counts = [only(None)] + [only(k) for k in lazy]
  if None in counts:
    return None
  return counts[0] + sum((n - counts[0]) / config.stylegan2[k] for k, n in zip(lazy, counts[1:]))


def _step_flops(config) -> float | None:
  from jaxgan.train import build, steps
  from jaxgan.train.state import init_state
  gan = build.build_gan(config)
  state = jax.eval_shape(functools.partial(init_state, gan, 0, build.image_shape(config)))
  batch = batch_shapes(config, config.batch_size)
  try:
    # Lowered for the host CPU: XLA:GPU gives no cost analysis before compiling (measured:
    # null on an H200), and the count must not depend on where the benchmark runs.
    with jax.default_device(jax.devices("cpu")[0]):
      cost = jax.jit(functools.partial(steps.gan_train_step, gan=gan)).lower(
          state, batch).cost_analysis()
  except Exception:
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  flops = (cost or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


# --- PyTorch peers ---------------------------------------------------------------------------

class TorchImpl(Impl):
  def __init__(self, spec: ModelSpec, batch: int, precision: str, compiled: bool,
               width: int | None, threads: int, tf32: str = "default"):
    import torch
    self.name = "torch-compile" if compiled else "torch"
    self.torch = torch
    self.tf32 = set_torch_tf32(torch, tf32)
    self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if self.device.type == "cpu":
      torch.set_num_threads(threads)
    config = spec_config(spec, width)
    self.cycle = lazy_cycle(config)
    o = {"image_size": config.image_size, "channels": config.channels}
    torch.manual_seed(0)
    if spec.torch_peer == "stylegan2":  # every size and option from the experiment config
      from benchmarks import torch_stylegan2
      nets = [n.to(self.device) for n in torch_stylegan2.networks(config)]
    else:
      nets = self._networks(torch, spec.torch_peer, o, width)  # [G, D] or CycleGAN's four
    if compiled:
      torch._dynamo.reset()  # a fresh cache per model: no shapes carried over from the last one
      nets = [torch.compile(n, dynamic=False) for n in nets]
    if spec.torch_peer == "stylegan2":
      self._step = torch_stylegan2.make_trainer(*nets, device=self.device, precision=precision,
                                                **torch_stylegan2.trainer_options(config))
    else:
      self._step = self._make_trainer(spec.torch_peer)(*nets, device=self.device,
                                                       precision=precision)
    image = lambda: torch.rand(batch, o["channels"], o["image_size"], o["image_size"],
                               device=self.device) * 2 - 1
    # The step's arguments: a real batch, two image batches for translation, or images and
    # jaxgan's holes for inpainting.
    self._real = (image(), image()) if spec.torch_peer in ("pix2pix", "cyclegan") else (image(),)
    if spec.torch_peer == "srgan":  # LR in [0, 1] (the SRResNet's input), HR in [-1, 1]
      size = o["image_size"]
      self._real = (torch.rand(batch, o["channels"], size // 4, size // 4, device=self.device),
                    image())
    if spec.torch_peer == "inpaint":
      from jaxgan.data import masks
      holes = np.asarray(masks.random_masks(jax.random.PRNGKey(0), np.arange(batch),
                                            o["image_size"]))
      self._real = (image(), torch.from_numpy(holes.transpose(0, 3, 1, 2).copy()).to(self.device))
    if self.device.type == "cuda":
      torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(2 if compiled else 1):  # compile traces on the first calls
      self._step(*self._real)
    self._sync()
    self.compile_s = time.perf_counter() - t0
    # Read now: the timed windows interleave the peers, and the allocator's peak is shared.
    self._peak = (int(torch.cuda.max_memory_allocated()) if self.device.type == "cuda"
                  else None)

  def _networks(self, torch, peer: str, o: dict, width: int | None) -> list:
    """The peer's networks, initialised as its reference does, on the device."""
    size, c = o["image_size"], o["channels"]
    if peer == "dcgan":
      from benchmarks import torch_dcgan
      w = width or 64
      nets = [torch_dcgan.DCGANGenerator(size, 100, w, c), torch_dcgan.DCGANDiscriminator(size, w, c)]
      for n in nets:
        n.apply(torch_dcgan.weights_init)
    elif peer == "sngan":
      from benchmarks import torch_sngan
      nets = [torch_sngan.Generator(size, 128, width or 256, c),
              torch_sngan.Discriminator(size, width or 128, c)]
    elif peer == "pix2pix":
      from benchmarks import torch_pix2pix
      nets = [torch_pix2pix.UnetGenerator(c, c, size.bit_length() - 1, width or 64,
                                          use_dropout=True),
              torch_pix2pix.NLayerDiscriminator(2 * c, width or 64, 3)]
      nets = [torch_pix2pix.init_weights(n) for n in nets]
    elif peer == "srgan":  # G, D and the frozen VGG19 of the perceptual loss
      from benchmarks import torch_srgan
      nets = [torch_srgan.SRResNet(c, width or 64, 16, 4),
              torch_srgan.SRGANDiscriminator(c, width or 64, size, 1024),
              torch_srgan.VGGFeatureExtractor("relu5_4", range_norm=True)]
    elif peer == "inpaint":
      from benchmarks import torch_inpaint
      nets = [torch_inpaint.Generator(c + 2, c, width or 48),
              torch_inpaint.Discriminator(c + 1, width or 64)]
    elif peer == "cyclegan":  # G_A, G_B, D_A, D_B
      from benchmarks import torch_cyclegan, torch_pix2pix
      nets = [torch_cyclegan.ResnetGenerator(c, c, width or 64) for _ in range(2)]
      nets += [torch_pix2pix.NLayerDiscriminator(c, width or 64, 3, norm="instance")
               for _ in range(2)]
      nets = [torch_pix2pix.init_weights(n) for n in nets]
    else:
      raise ValueError(f"no PyTorch peer {peer!r}")
    return [n.to(self.device) for n in nets]

  @staticmethod
  def _make_trainer(peer: str):
    from benchmarks import torch_cyclegan, torch_dcgan, torch_inpaint, torch_pix2pix, torch_sngan

    def _srgan_trainer(g, d, vgg, *, device, precision):  # SRGAN-VGG54, as srgan_div2k.py
      from benchmarks import torch_srgan
      return torch_srgan.make_trainer(g, d, vgg, device=device, precision=precision, mode="srgan",
                                      pixel_loss="none", perceptual_criterion="mse",
                                      perceptual_weight=0.006, adv_weight=1e-3, lr=1e-4,
                                      betas=(0.9, 0.999))
    return {"dcgan": torch_dcgan.make_trainer, "sngan": torch_sngan.make_trainer,
            "pix2pix": torch_pix2pix.make_trainer, "cyclegan": torch_cyclegan.make_trainer,
            "inpaint": torch_inpaint.make_trainer, "srgan": _srgan_trainer}[peer]

  def _sync(self):
    if self.device.type == "cuda":
      self.torch.cuda.synchronize()

  def run(self, n: int) -> None:
    for _ in range(n):
      self._step(*self._real)
    self._sync()

  def peak_mem_bytes(self) -> int | None:
    if self._peak is None:
      return None
    self.peak_mem_what = "torch_max_memory_allocated_after_warmup"
    return self._peak


# --- timing ----------------------------------------------------------------------------------

def time_round_robin(impls: list[Impl], windows: int, window_s: float) -> dict[str, list[float]]:
  """steps/s of each impl per window; windows alternate between impls."""
  per_window = {}
  for impl in impls:  # one step each to size the windows
    t0 = time.perf_counter()
    impl.run(1)
    n = max(1, round(window_s / max(time.perf_counter() - t0, 1e-6)))
    per_window[impl.name] = -(-n // impl.cycle) * impl.cycle  # whole cycles of lazy phases
  rates = {impl.name: [] for impl in impls}
  for _ in range(windows):
    for impl in impls:
      n = per_window[impl.name]
      t0 = time.perf_counter()
      impl.run(n)
      rates[impl.name].append(n / (time.perf_counter() - t0))
  return rates


def _versions() -> dict:
  v = {"python": platform.python_version(), "jax": jax.__version__}
  for mod in ("flax", "optax", "torch"):
    try:
      v[mod] = __import__(mod).__version__
    except ImportError:
      pass
  return v


def device_name() -> str:
  d = jax.devices()[0]
  if d.platform == "cpu":
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
  return d.device_kind


def benchmark(models: list[str], precisions: list[str], peers: list[str], *, batch_size=None,
              width=None, windows=5, window_s=2.0, n_devices=None, threads=None,
              tf32="default", command="", on_group=None) -> list[Record]:
  """Records for every (model, precision, impl); `on_group(records so far)` after each group."""
  devices = jax.devices()[:n_devices] if n_devices else jax.devices()
  set_jax_tf32(tf32)
  threads = threads or os.cpu_count()
  records = []
  for name in models:
    spec = MODELS[name]
    batch = batch_size or spec.batch_size
    for precision in precisions:
      impls, notes = [], {}
      # A batch smaller than the device count (pix2pix's 1) runs on as many devices as divide it.
      used = devices[:max(k for k in range(1, len(devices) + 1) if batch % k == 0)]
      if len(used) < len(devices):
        print(f"# {name}: batch {batch} on {len(used)} of {len(devices)} devices", file=sys.stderr)
      impls.append(JaxganImpl(spec, batch, precision, used, width))
      for peer in peers:
        if spec.torch_peer is None:
          notes[peer] = "no PyTorch peer for this model"
          continue
        try:
          impls.append(TorchImpl(spec, batch, precision, peer == "torch-compile", width, threads,
                                 tf32))
        except Exception as e:  # e.g. torch.compile without a C++ compiler: say so, go on
          notes[peer] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
      rates = time_round_robin(impls, windows, window_s)
      flops = impls[0].flops_per_step  # the same networks and step: one count for all
      peak = peaks.peak_flops(jax.devices()[0], precision)
      for impl in impls:
        sps = statistics.median(rates[impl.name])
        peak_mem = impl.peak_mem_bytes()
        achieved = flops * sps if flops else None
        records.append(Record(
            model=name, impl=impl.name, device=device_name(),
            n_devices=len(used) if impl.name == "jaxgan" else 1, batch_size=batch,
            precision=precision, steps_per_s=sps, images_per_s=sps * batch,
            sec_per_kimg=1000.0 / (sps * batch), compile_s=impl.compile_s,
            peak_mem_bytes=peak_mem, peak_mem_what=impl.peak_mem_what, flops_per_step=flops,
            achieved_flops_per_s=achieved, peak_flops_per_s=peak,
            mfu=achieved / peak if achieved and peak else None,
            windows=[round(r, 5) for r in rates[impl.name]], versions=_versions(),
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            command=command, tf32=impl.tf32))
      for peer, why in notes.items():
        print(f"# {name} {precision} {peer}: skipped ({why})", file=sys.stderr)
      if on_group:
        on_group(records)
  return records


def _bytes(n: int | None) -> str:
  if not n:
    return "-"
  return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def table(records: list[Record]) -> str:
  head = ("| model | impl | prec | batch | steps/s | images/s | sec/kimg | vs torch | compile s "
          "| peak mem | GFLOP/step | TFLOP/s | MFU |")
  lines = [head, "|" + "---|" * (head.count("|") - 1)]
  base = {(r.model, r.precision): r.steps_per_s for r in records if r.impl == "torch"}
  for r in records:
    ratio = base.get((r.model, r.precision))
    lines.append(
        f"| {r.model} | {r.impl} | {r.precision} | {r.batch_size} | {r.steps_per_s:.3f} | "
        f"{r.images_per_s:.1f} | {r.sec_per_kimg:.2f} | "
        f"{f'{r.steps_per_s / ratio:.2f}x' if ratio else '-'} | {r.compile_s:.1f} | "
        f"{_bytes(r.peak_mem_bytes)} | "
        f"{f'{r.flops_per_step / 1e9:.4g}' if r.flops_per_step else '-'} | "
        f"{f'{r.achieved_flops_per_s / 1e12:.3g}' if r.achieved_flops_per_s else '-'} | "
        f"{f'{100 * r.mfu:.2g}%' if r.mfu else '-'} |")
  return "\n".join(lines)


def _names(text: str, valid, what: str) -> list[str]:
  names = [n for n in text.split(",") if n]
  bad = [n for n in names if n not in valid]
  if bad:
    sys.exit(f"benchmarks.run: error: unknown {what} {', '.join(bad)}; valid: {', '.join(valid)}")
  return names


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default="dcgan64", help=f"comma-separated, or 'all' ({', '.join(MODELS)})")
  p.add_argument("--batch-size", type=int, default=None, help="default: each model's own")
  p.add_argument("--precision", default="f32", help="f32,bf16")
  p.add_argument("--peers", default="torch", help="torch,torch-compile or ''")
  p.add_argument("--width", type=int, default=None, help="override g/d width (tiny smoke runs)")
  p.add_argument("--windows", type=int, default=5)
  p.add_argument("--window-s", type=float, default=2.0, help="target seconds per timed window")
  p.add_argument("--devices", type=int, default=None, help="use the first N devices")
  p.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: all)")
  p.add_argument("--tf32", default="default", choices=TF32_MODES,
                 help="float32 on TF32 tensor cores: on/off in both frameworks, or each's default")
  p.add_argument("--json", default=None)
  a = p.parse_args(argv)
  models = list(MODELS) if a.models == "all" else _names(a.models, MODELS, "models")
  precisions = _names(a.precision, ("f32", "bf16"), "precisions")
  peers = _names(a.peers, ("torch", "torch-compile"), "peers")
  command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
  def save(records):  # after every group: a run cut short keeps what it measured
    print(table(records[-len(impl_names(records)):]), flush=True)
    if a.json:
      with open(a.json + ".tmp", "w") as f:
        json.dump([asdict(r) for r in records], f, indent=1)
      os.replace(a.json + ".tmp", a.json)

  print(f"# {device_name()}; jax {jax.__version__}; median of {a.windows} windows", flush=True)
  records = benchmark(models, precisions, peers, batch_size=a.batch_size, width=a.width,
                      windows=a.windows, window_s=a.window_s, n_devices=a.devices,
                      threads=a.threads, tf32=a.tf32, command=command, on_group=save)
  print("# all groups:")
  print(table(records))
  return 0


def impl_names(records: list[Record]) -> list[str]:
  """The impls of the last (model, precision) group."""
  last = (records[-1].model, records[-1].precision)
  return [r.impl for r in records if (r.model, r.precision) == last]


if __name__ == "__main__":
  sys.exit(main())
