"""Exports the PyTorch StyleGAN2's (benchmarks/torch_stylegan2.py) weights, outputs and one
training step as a fixture for tests/test_stylegan2_torch.py (which needs no torch).

The networks are experiments/stylegan2_digits.py shrunk (tests/test_stylegan2_torch.CONFIG:
16x16x3, z = w = 16, channel_base 128, channel_max 16, 2 mapping layers, conv_clamp 256,
batch 8, R1 gamma 1 so that its update is not lost beside the main one). The step is step
0, so all four phases run (G main, path length, D main, R1). Its random draws are jaxgan's
own (stylegan2_step's streams under fold_in(PRNGKey(SEED), 0)), passed to the PyTorch step,
so the two steps see the same z, style-mixing cutoffs, per-pixel noise and path-length
noise.

  pip install torch && python scripts/export_stylegan2_torch_reference.py

Keys (images NHWC in [-1, 1]; state_dicts as torch stores them):
  g/<key>, d/<key>        the initial state_dicts (seeded init; biases, noise strengths and
                          w_avg random so that their import is checked)
  z, mix_z, cutoff, noise_keys, g_eval
                          G in eval mode (no w_avg update) on these inputs, noise from the keys
  x, d_logits             D on a batch of 8
  real                    the step's real batch (8, 16, 16, 3)
  seed                    the step's PRNGKey seed
  step/<metric>           g_loss, pl_penalty, pl_mean, d_loss, r1_penalty of the step
  step_g/<key>, step_d/<key>   the state_dicts after it
  count/g256, count/d256  parameter counts of experiments/stylegan2_ffhq256.py's networks
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import jax  # noqa: E402

from benchmarks import torch_stylegan2 as ts  # noqa: E402
from jaxgan.models import stylegan2  # noqa: E402
from jaxgan.train import build, stylegan2_step as sg  # noqa: E402
from jaxgan.train.steps import draw_global  # noqa: E402
import test_stylegan2_torch as spec  # noqa: E402

SEED = 3


def nchw(x) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def nhwc(x: torch.Tensor) -> np.ndarray:
  return x.detach().numpy().transpose(0, 2, 3, 1)


def state(prefix: str, module) -> dict:
  return {f"{prefix}/{k}": v.detach().numpy().copy() for k, v in module.state_dict().items()}


def jaxgan_draws(gan, c, n: int) -> dict:
  """The step's random inputs as jaxgan's step 0 draws them, as torch tensors."""
  key = jax.random.fold_in(jax.random.PRNGKey(SEED), 0)

  def g_inputs(stream, m):
    z, mix_z, cutoff, keys = sg._g_inputs(gan, jax.random.fold_in(key, stream), m, None)
    noise = [nchw(x) for x in stylegan2.noise_maps(keys, c.image_size)]
    return (torch.from_numpy(np.asarray(z)), torch.from_numpy(np.asarray(mix_z)),
            torch.from_numpy(np.asarray(cutoff).astype(np.int64)), noise)

  m = n // c.stylegan2.pl_batch_shrink
  shape = (c.image_size, c.image_size, c.channels)
  pl = draw_global(jax.random.fold_in(key, sg.PL_NOISE_STREAM), m,
                   lambda k, b: jax.random.normal(k, (b, *shape)) / c.image_size, None)
  return {"g_main": g_inputs(sg.G_MAIN_STREAM, n), "g_reg": g_inputs(sg.G_REG_STREAM, m),
          "d_main": g_inputs(sg.D_MAIN_STREAM, n), "pl_noise": nchw(pl)}


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                               "fixtures", "stylegan2_torch_reference.npz"))
  args = p.parse_args()
  c = spec.tiny_config()
  torch.manual_seed(0)
  rng = np.random.default_rng(0)
  g, d = ts.networks(c)
  with torch.no_grad():
    for module in (g, d):
      for name, t in module.named_parameters():
        if name.endswith("bias") or name.endswith("noise_strength"):
          t.copy_(torch.from_numpy(rng.normal(0, 0.2, t.shape).astype(np.float32)))
    g.mapping.w_avg.copy_(torch.from_numpy(rng.normal(0, 0.5, g.mapping.w_avg.shape)))
  out = {**state("g", g), **state("d", d), "seed": np.int64(SEED)}

  n = c.batch_size
  out["z"] = rng.standard_normal((4, c.model.latent_dim)).astype(np.float32)
  out["mix_z"] = rng.standard_normal((4, c.model.latent_dim)).astype(np.float32)
  out["cutoff"] = np.array([1, 3, 6, 2], np.int32)   # num_ws = 6 at 16x16: 6 = no mixing
  out["noise_keys"] = np.asarray(jax.random.split(jax.random.PRNGKey(7), 4))
  noise = [nchw(x) for x in stylegan2.noise_maps(out["noise_keys"], c.image_size)]
  g.eval()
  with torch.no_grad():
    img, _ = g(torch.from_numpy(out["z"]), torch.from_numpy(out["mix_z"]),
               torch.from_numpy(out["cutoff"].astype(np.int64)), noise)
  out["g_eval"] = nhwc(img)
  out["x"] = rng.uniform(-1, 1, (n, c.image_size, c.image_size, c.channels)).astype(np.float32)
  with torch.no_grad():
    out["d_logits"] = d(nchw(out["x"])).numpy()

  step = ts.make_trainer(g, d, device=torch.device("cpu"), **ts.trainer_options(c))
  g.train()
  out["real"] = rng.uniform(-1, 1, (n, c.image_size, c.image_size, c.channels)).astype(np.float32)
  metrics = step(nchw(out["real"]), jaxgan_draws(build.build_gan(c), c, n))
  out.update({f"step/{k}": v.numpy() for k, v in metrics.items()})
  out.update({**state("step_g", g), **state("step_d", d)})

  g256, d256 = ts.networks(spec.full_config())
  out["count/g256"] = np.int64(sum(t.numel() for t in g256.parameters()))
  out["count/d256"] = np.int64(sum(t.numel() for t in d256.parameters()))
  np.savez_compressed(args.out, **out)
  print(f"wrote {args.out}: {len(out)} arrays; step " +
        ", ".join(f"{k} {float(v):.6g}" for k, v in metrics.items()))


if __name__ == "__main__":
  main()
