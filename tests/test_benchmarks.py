"""The benchmark harness runs without TensorFlow and reports what it claims (a smoke run of a
tiny model; timings themselves are never asserted)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from helpers import REPO

# As on an accelerator host without TensorFlow: importing it fails, and probes such as
# importlib.util.find_spec (torch._dynamo makes them) see no such module.
BLOCK_TF = """
import sys
sys.modules.update(tensorflow=None, tensorflow_datasets=None)
from benchmarks import run
sys.exit(run.main(sys.argv[1:]))
"""


def _conv_flops(h_out, c_in, c_out, batch, k=4):
  return 2 * h_out * h_out * c_in * c_out * k * k * batch


def test_harness_without_tensorflow_and_its_flop_count(tmp_path):
  out = tmp_path / "b.json"
  proc = subprocess.run([sys.executable, "-c", BLOCK_TF, "--models", "dcgan32", "--width", "8",
                         "--batch-size", "8", "--peers", "", "--windows", "1", "--window-s", "0.05",
                         "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  (r,) = json.loads(out.read_text())
  assert {"model", "impl", "device", "n_devices", "batch_size", "precision", "steps_per_s",
          "images_per_s", "compile_s", "peak_mem_bytes", "flops_per_step", "mfu"} <= set(r)
  assert r["model"] == "dcgan32" and r["impl"] == "jaxgan" and r["batch_size"] == 8
  assert r["images_per_s"] == pytest.approx(8 * r["steps_per_s"])
  assert r["mfu"] is None  # no peak is known for a CPU
  # The step program's footprint: G's and D's parameters and two Adam moments each, and
  # activations besides (the batch's images alone are 8 x 32 x 32 x 3 floats).
  assert r["peak_mem_what"] == "xla_program_footprint"
  from jaxgan.models import dcgan
  import jax, jax.numpy as jnp
  n = sum(x.size for m, x0 in ((dcgan.Generator(image_size=32, width=8), jnp.zeros((1, 100))),
                               (dcgan.Discriminator(image_size=32, width=8), jnp.zeros((1, 32, 32, 3))))
          for x in jax.tree.leaves(m.init(jax.random.PRNGKey(0), x0, train=False)["params"]))
  assert r["peak_mem_bytes"] >= 3 * 4 * n + 4 * 8 * 32 * 32 * 3
  # XLA's count against the convolutions' FLOPs by hand. Per step: G forward and backward
  # (3G, less the unneeded input gradient of its first layer G0); D on real and on detached
  # fakes, forward and backward (3D each, less D's first-layer input gradient D1); D on fakes
  # again for G's loss, forward and input gradients only (2D). XLA counts only the kernel
  # taps that land inside the (zero-padded) input, about 13% fewer at this size.
  b, w, nz = 8, 8, 100
  up = lambda h_out, c_in, c_out: _conv_flops(h_out, c_in, c_out, b) // 4  # 4 of 16 taps hit
  g0 = 2 * 16 * nz * 4 * w * b
  g = g0 + up(8, 4 * w, 2 * w) + up(16, 2 * w, w) + up(32, w, 3)
  d1 = _conv_flops(16, 3, w, b)
  d = d1 + _conv_flops(8, w, 2 * w, b) + _conv_flops(4, 2 * w, 4 * w, b) + _conv_flops(1, 4 * w, 1, b)
  ratio = r["flops_per_step"] / (3 * g - g0 + 8 * d - 2 * d1)
  assert 0.8 < ratio < 1.05, ratio


def test_unknown_model_is_a_clear_error():
  proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--models", "nope"], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0 and ("unknown models nope; valid: dcgan64, dcgan32, sngan32, stylegan2_64, "
                                   "stylegan2_256, pix2pix256, cyclegan256, inpaint256, srgan_x4") in proc.stderr


@pytest.mark.slow  # compiles a (tiny) StyleGAN2 step: about two minutes on 2 cores
def test_stylegan2_smoke_with_width(tmp_path):
  """StyleGAN2 in the harness, beside its PyTorch peer when torch is installed."""
  peers = "torch" if importlib.util.find_spec("torch") else ""
  out = tmp_path / "b.json"
  proc = subprocess.run([sys.executable, "-c", BLOCK_TF, "--models", "stylegan2_64", "--width", "8",
                         "--peers", peers, "--windows", "1", "--window-s", "0.1", "--json", str(out)],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  records = json.loads(out.read_text())
  assert [r["impl"] for r in records] == ["jaxgan"] + (["torch"] if peers else [])
  for r in records:
    assert r["model"] == "stylegan2_64" and r["batch_size"] == 16
    assert r["sec_per_kimg"] == pytest.approx(1000 / r["images_per_s"])
    assert r["flops_per_step"] and r["flops_per_step"] > 0


@pytest.mark.parametrize("model,width", [("pix2pix256", 2), ("cyclegan256", 2),
                                         ("inpaint256", 4), ("srgan_x4", 4)])
def test_image_model_smoke_with_its_pytorch_peer(tmp_path, model, width):
  """The image-to-image steps run in the harness on synthetic batches, beside the
  reference's PyTorch step when torch is installed; FLOPs counted from XLA."""
  peers = "torch" if importlib.util.find_spec("torch") else ""
  out = tmp_path / "b.json"
  proc = subprocess.run([sys.executable, "-c", BLOCK_TF, "--models", model, "--width", str(width),
                         "--batch-size", "2", "--peers", peers, "--windows", "1", "--window-s",
                         "0.1", "--json", str(out)],
                        cwd=REPO, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  records = json.loads(out.read_text())
  assert [r["impl"] for r in records] == ["jaxgan"] + (["torch"] if peers else [])
  r = records[0]
  assert r["model"] == model and r["batch_size"] == 2 and r["steps_per_s"] > 0
  assert r["flops_per_step"] and r["flops_per_step"] > 0


def test_sngan_peer_builds_jaxgan_networks():
  """The PyTorch SNGAN peer has jaxgan's layers: the same parameter tensors, by size."""
  torch = pytest.importorskip("torch")
  import jax
  import jax.numpy as jnp
  import numpy as np
  from benchmarks import torch_sngan
  from jaxgan.models import resnet

  def jax_sizes(module, x):
    params = module.init(jax.random.PRNGKey(0), x, train=False)["params"]
    return sorted(int(np.size(p)) for p in jax.tree.leaves(params))

  def torch_sizes(module):  # spectral norm's original weight is the parameter
    return sorted(p.numel() for p in module.parameters())

  g = resnet.Generator(image_size=32, channels=3, latent_dim=128, width=16)
  d = resnet.Discriminator(image_size=32, channels=3, width=8)
  assert jax_sizes(g, jnp.zeros((1, 128))) == torch_sizes(torch_sngan.Generator(32, 128, 16, 3))
  assert jax_sizes(d, jnp.zeros((1, 32, 32, 3))) == torch_sizes(torch_sngan.Discriminator(32, 8, 3))
  # ... and its step runs: 5 D updates of 2 examples, one G update.
  step = torch_sngan.make_trainer(torch_sngan.Generator(32, 128, 16, 3),
                                  torch_sngan.Discriminator(32, 8, 3), device=torch.device("cpu"))
  d_loss, g_loss = step(torch.rand(10, 3, 32, 32) * 2 - 1)
  assert torch.isfinite(d_loss) and torch.isfinite(g_loss)


def test_every_peer_is_known_and_reads_the_jaxgan_config():
  """Each spec's peer exists, and its networks' sizes come from the same experiment config
  as jaxgan's (a pix2pix256 peer once ran at 32x32 beside jaxgan's 256)."""
  from benchmarks import run
  for name, spec in run.MODELS.items():
    if spec.torch_peer is None:
      continue
    assert os.path.exists(os.path.join(REPO, "benchmarks", f"torch_{spec.torch_peer}.py")), name
    c = run.spec_config(spec)
    assert c.image_size == {"dcgan64": 64, "dcgan32": 32, "sngan32": 32, "stylegan2_64": 64,
                            "stylegan2_256": 256, "pix2pix256": 256, "cyclegan256": 256,
                            "inpaint256": 256, "srgan_x4": 96}[name], name


def test_stylegan2_peer_networks_follow_the_config():
  """The PyTorch StyleGAN2 of the harness is the config's: the parameter count of jaxgan's
  networks at stylegan2_64 with --width 32."""
  pytest.importorskip("torch")
  import jax
  import jax.numpy as jnp
  import numpy as np
  from benchmarks import run, torch_stylegan2
  from jaxgan.train import build
  c = run.spec_config(run.MODELS["stylegan2_64"], width=32)
  gan = build.build_gan(c)
  count = lambda module, x: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(
      jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), x)["params"]))
  g, d = torch_stylegan2.networks(c)
  assert count(gan.generator, jnp.zeros((1, 512))) == sum(p.numel() for p in g.parameters())
  assert count(gan.discriminator, jnp.zeros((1, 64, 64, 3))) == sum(
      p.numel() for p in d.parameters())


def test_windows_are_whole_cycles_of_lazy_phases():
  """StyleGAN2's R1 (every 16) and path length (every 4) make steps unequal: every timed
  window is a multiple of 16 steps, wherever it starts; other steps are not rounded."""
  from benchmarks import run
  assert run.lazy_cycle(run.spec_config(run.MODELS["stylegan2_256"])) == 16
  assert run.lazy_cycle(run.spec_config(run.MODELS["dcgan64"])) == 1

  class Counting(run.Impl):
    def __init__(self, name, cycle):
      self.name, self.cycle, self.calls = name, cycle, []

    def run(self, n):
      self.calls.append(n)

  lazy, plain = Counting("lazy", 16), Counting("plain", 1)
  run.time_round_robin([lazy, plain], windows=3, window_s=1e-9)
  assert lazy.calls == [1, 16, 16, 16] and plain.calls == [1, 1, 1, 1]


@pytest.mark.parametrize("model", ["inpaint", "cyclegan", "srgan"])
def test_conv_ops_layer_lists_match_pytorch_shapes(model, tmp_path):
  """benchmarks.conv_ops times each listed layer in both frameworks on the same shapes: the
  output-gradient shape it computes (dilation and stride included) must fit PyTorch's layer,
  whose backward refuses a mismatch. Tiny sizes, one repeat."""
  pytest.importorskip("torch")
  from benchmarks import conv_ops
  out = tmp_path / "ops.json"
  size = {"inpaint": 64, "cyclegan": 32, "srgan": 32}[model]
  assert conv_ops.main(["--model", model, "--image-size", str(size), "--batch-size", "1",
                        "--width", "8", "--repeats", "1", "--json", str(out)]) == 0
  records = json.loads(out.read_text())["records"]
  assert len(records) == len(conv_ops.CONV_LISTS[model](size, 8))
  assert all(set(r["ms"]) == {"lax", "rearranged", "torch"} for r in records)


def test_conv_in_loop_runs_every_impl_and_stride(tmp_path):
  from benchmarks import conv_in_loop
  out = tmp_path / "loop.json"
  assert conv_in_loop.main(["--size", "8", "--channels", "4", "--batch-size", "2",
                            "--repeats", "1", "--json", str(out)]) == 0
  records = json.loads(out.read_text())["records"]
  assert {(r["impl"], r["stride"]) for r in records} == {
      (i, s) for i in ("lax", "rearranged") for s in (1, 2)}
  assert all(set(r["ms"]) == {"straight", "scan", "one", "cond"} for r in records)


def test_stylegan2_convs_lists_every_resampling_layer(tmp_path):
  """benchmarks.stylegan2_convs times G's up- and 'same' convs and D's down-convs at every
  resolution (jaxgan's forms; PyTorch's where installed). Tiny sizes, one repeat."""
  from benchmarks import stylegan2_convs
  layers_ = stylegan2_convs.stylegan2_convs(32, 8)
  assert [(n, k, h) for n, k, h, _, _ in layers_] == [
      ("G.b8.conv0", "up", 4), ("G.b8.conv1", "same", 8), ("G.b16.conv0", "up", 8),
      ("G.b16.conv1", "same", 16), ("G.b32.conv0", "up", 16), ("G.b32.conv1", "same", 32),
      ("D.b32.conv1", "down", 32), ("D.b16.conv1", "down", 16), ("D.b8.conv1", "down", 8)]
  out = tmp_path / "sg.json"
  argv = ["--image-size", "16", "--width", "4", "--batch-size", "2", "--repeats", "1",
          "--json", str(out)]
  if importlib.util.find_spec("torch") is None:
    argv.append("--no-torch")
  assert stylegan2_convs.main(argv) == 0
  records = json.loads(out.read_text())["records"]
  assert [r["layer"] for r in records] == [n for n, *_ in stylegan2_convs.stylegan2_convs(16, 4)]
  assert all({"lax", "rearranged"} <= set(r["ms"]) for r in records)


def test_xla_windows_times_every_form_on_every_shape(tmp_path):
  """benchmarks.xla_windows checks the padded-and-cropped window and cpu_conv._window equal
  the unpadded one before timing them, on every listed shape."""
  from benchmarks import xla_windows
  out = tmp_path / "windows.json"
  assert xla_windows.main(["--small", "--repeats", "1", "--json", str(out)]) == 0
  records = json.loads(out.read_text())["records"]
  assert len(records) == len(xla_windows.SHAPES)
  assert all(set(r["ms"]) == {"unpadded", "padded", "_window"} for r in records)
