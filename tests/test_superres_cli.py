"""Super-resolution end to end through the CLI: SRGAN on the embedded photos, previews,
the PSNR phase without D, a second phase started from the first (init_generator_from),
`jaxgan upscale` (whole, tiled, --evaluate) and the refusals that protect user data."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan import cli
from jaxgan.edit import upscale
from helpers import REPO, run_rows as _rows

CONFIG = os.path.join(REPO, "experiments", "srgan_photos.py")
TINY = ("--config.image_size=16", "--config.model.g_width=4", "--config.model.num_blocks=1",
        "--config.model.d_width=4", "--config.model.dense_width=8", "--config.batch_size=8",
        "--config.log_every_steps=2", "--config.sample_every_steps=2",
        "--config.checkpoint_every_steps=2", "--config.num_samples=2",
        "--config.progress_bar=false")


def _train(workdir, tfds_dir, steps, *extra):
  return cli.main(["train", "--config", CONFIG, "--workdir", str(workdir),
                   f"--config.data_dir={tfds_dir}", f"--config.num_train_steps={steps}",
                   *TINY, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir):
  """A PSNR-phase run (MSE only, no D), and a GAN run started from its generator."""
  root = tmp_path_factory.mktemp("sr")
  assert _train(root / "psnr", tfds_dir, 2, "--config.superres.adv_weight=0") == 0
  assert _train(root / "gan", tfds_dir, 2, f"--config.init_generator_from={root / 'psnr'}") == 0
  return root


def test_phases_log_their_terms(trained):
  psnr, gan = _rows(trained / "psnr"), _rows(trained / "gan")
  assert "g_pixel" in psnr[2] and "g_loss" not in psnr[2] and psnr[2]["d_grad_norm"] == 0.0
  for key in ("g_pixel", "g_loss", "d_loss", "d_real", "d_fake", "g_total"):
    assert np.isfinite(gan[2][key]), key
  # bicubic | G(LR) | HR panels of 16x16 patches
  grid = np.asarray(Image.open(trained / "gan" / "samples" / "step_0000002.png"))
  assert grid.shape[0] in (16 + 4, 2 * 16 + 6) and grid.shape[1] % (48 + 2) == 2


def _photos(path, sizes=((20, 28), (13, 17))):
  rng = np.random.default_rng(0)
  path.mkdir()
  for i, size in enumerate(sizes):
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path / f"{i}.png")
  return path


def test_upscale_writes_4x_images_and_evaluates(trained, tmp_path, capsys):
  photos = _photos(tmp_path / "in")
  out = tmp_path / "out"
  base = ["upscale", "--workdir", str(trained / "gan"), "--input", str(photos)]
  assert cli.main(base + ["--out", str(out)]) == 0
  assert np.asarray(Image.open(out / "0.png")).shape == (80, 112, 3)
  assert np.asarray(Image.open(out / "1.png")).shape == (52, 68, 3)
  assert cli.main(base + ["--out", str(out)]) == 2   # exists: refused
  assert cli.main(base + ["--out", str(tmp_path / "ev"), "--evaluate", "--panels"]) == 0
  text = capsys.readouterr().out
  assert "mean PSNR" in text and "on Y" in text
  # SSIM where the shaved Y fits its window: 20x28 -> 12x20 yes, 13x17 -> 4x8 no.
  assert text.count("SSIM on Y") == 2 and "over 1" in text.splitlines()[-2]
  # ground truth cropped to a multiple of 4: 20x28 -> bicubic | model | original
  assert np.asarray(Image.open(tmp_path / "ev" / "0.png")).shape == (20, 84, 3)


def test_upscale_evaluate_reports_lpips_on_the_shaved_rgb(trained, tmp_path, capsys):
  """--lpips: LPIPS of model and bicubic against the ground truth, `scale` pixels shaved,
  recomputed here from the written panels; an image too small for the net gets none."""
  from jaxgan.metrics import lpips
  from fixtures.make_lpips_fixture import write_seeded_npz
  write_seeded_npz(tmp_path / "vgg.npz", "vgg")
  photos = _photos(tmp_path / "in", sizes=((40, 44), (20, 28)))
  base = ["upscale", "--workdir", str(trained / "gan"), "--input", str(photos), "--out"]
  assert cli.main(base + [str(tmp_path / "ev"), "--evaluate", "--panels",
                          "--lpips", str(tmp_path / "vgg.npz")]) == 0
  text = capsys.readouterr().out
  assert text.count("LPIPS") == 2 and "mean LPIPS" in text  # 0.png's row and the mean
  panel = np.asarray(Image.open(tmp_path / "ev" / "0.png"))  # bicubic | model | original
  base_img, sr, truth = (panel[:, i * 44:(i + 1) * 44][None, 4:-4, 4:-4] for i in range(3))
  net, variables = lpips.load(str(tmp_path / "vgg.npz"))
  to_unit = lambda a: a.astype(np.float32) / 127.5 - 1
  want = lpips.distance(variables, to_unit(sr), to_unit(truth), net)
  want_bicubic = lpips.distance(variables, to_unit(base_img), to_unit(truth), net)
  row = next(line for line in text.splitlines() if line.startswith(str(photos / "0.png")))
  assert f"LPIPS {float(want[0]):.4f} (bicubic {float(want_bicubic[0]):.4f})" in row
  assert cli.main(base + [str(tmp_path / "no"), "--lpips", str(tmp_path / "vgg.npz")]) == 2
  assert "it needs --evaluate" in capsys.readouterr().err


def test_tiles_equal_the_whole_image_away_from_the_border(trained):
  from jaxgan.generate import load_run
  from jaxgan.train.superres_step import upscale as g_upscale
  import jax
  _, gan, state = load_run(str(trained / "gan"))
  run = jax.jit(lambda x: g_upscale(gan, state.g.params, state.g.batch_stats, x))
  rng = np.random.default_rng(1)
  lr = rng.uniform(-1, 1, (40, 36, 3)).astype(np.float32)
  whole = np.asarray(run(lr[None]))[0]
  tiled = upscale.tiles(lr, run, 4, tile=12, tile_pad=12)  # context >= the tiny G's reach
  assert tiled.shape == whole.shape == (160, 144, 3)
  m = 4 * 12
  np.testing.assert_allclose(tiled[m:-m, m:-m], whole[m:-m, m:-m], atol=1e-5)


def test_eval_reports_the_sr_protocol_beside_bicubic(trained, tmp_path, capsys):
  """`jaxgan eval` on the two held-out photos: PSNR on shaved Y, and bicubic's, which is
  computed here from the same LR patches by hand."""
  import json
  from jaxgan.data import superres
  from jaxgan.generate import load_run
  from jaxgan.images import to_uint8
  from jaxgan.metrics import full_reference as fr
  workdir, out = str(trained / "gan"), tmp_path / "eval.json"
  assert cli.main(["eval", "--workdir", workdir, "--split", "train[8:]", "--metrics",
                   "l1,psnr,fid", "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  m = result["metrics"]
  assert result["task"] == "superres" and "4 border pixels shaved" in result["protocol"]
  assert m["num_examples"] == 2 and np.isfinite(m["fid"])
  config, _, _ = load_run(workdir)
  config.split = "train[8:]"
  lr, hr = superres.superres_examples(config, 2)
  psnrs = []
  for low, high in zip(to_uint8(lr), to_uint8(hr)):
    up = upscale.bicubic(low, high.shape[:2])
    psnrs.append(fr.psnr(fr.sr_view(up, 4), fr.sr_view(high, 4)))
  np.testing.assert_allclose(m["psnr_bicubic"], np.mean(psnrs), rtol=1e-5)
  assert 0 < m["l1"] < 1 and np.isfinite(m["psnr"])
  # 16-pixel patches shaved by 4 leave 8: too small for SSIM's window, said in one line.
  assert cli.main(["eval", "--workdir", workdir, "--metrics", "ssim"]) == 2
  assert "at least 11 pixels" in capsys.readouterr().err
  # LPIPS: its weights are asked for, and 8 pixels are too few for VGG16's last tap.
  assert cli.main(["eval", "--workdir", workdir, "--metrics", "lpips"]) == 2
  assert "metric 'lpips' needs its weights: --lpips FILE" in capsys.readouterr().err
  from fixtures.make_lpips_fixture import write_seeded_npz
  write_seeded_npz(tmp_path / "vgg.npz", "vgg")
  assert cli.main(["eval", "--workdir", workdir, "--metrics", "lpips",
                   "--lpips", str(tmp_path / "vgg.npz")]) == 2
  assert "needs images of at least 16 pixels a side after the SR shave; these are 8" in \
      capsys.readouterr().err


def test_eval_whole_images_as_the_sr_papers(trained, tmp_path, capsys):
  """--whole-images: each held-out photo whole (cropped to a multiple of 4), degraded and
  upscaled; PSNR/SSIM on shaved Y recomputed here image by image from the same LR."""
  import json
  from jaxgan.data import superres
  from jaxgan.generate import load_run
  from jaxgan.images import to_uint8
  from jaxgan.metrics import full_reference as fr
  from jaxgan.train.superres_step import upscale as g_upscale
  workdir, out = str(trained / "gan"), tmp_path / "whole.json"
  assert cli.main(["eval", "--workdir", workdir, "--split", "train[8:]", "--whole-images",
                   "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  m = result["metrics"]
  assert "whole images" in result["protocol"] and m["num_examples"] == 2
  assert sorted(k for k in m if not k.endswith("_bicubic")) == [
      "l1", "num_examples", "psnr", "seconds", "ssim"]
  config, gan, state = load_run(workdir)
  config.split = "train[8:]"
  ds, _ = superres.eval_whole_images(config)
  psnr, psnr_bicubic, ssim, sizes = [], [], [], []
  for lr, hr in ds.as_numpy_iterator():
    sr = to_uint8(np.asarray(g_upscale(gan, state.g.params, state.g.batch_stats, lr[None]))[0])
    truth, low = to_uint8(hr), to_uint8(lr)
    sizes.append(truth.shape[:2])
    up = upscale.bicubic(low, truth.shape[:2])
    psnr.append(fr.psnr(fr.sr_view(sr, 4), fr.sr_view(truth, 4)))
    psnr_bicubic.append(fr.psnr(fr.sr_view(up, 4), fr.sr_view(truth, 4)))
    ssim.append(fr.ssim(fr.sr_view(sr, 4), fr.sr_view(truth, 4)))
  assert all(h % 4 == 0 and w % 4 == 0 and min(h, w) > 100 for h, w in sizes), sizes
  np.testing.assert_allclose(m["psnr"], np.mean(psnr), rtol=1e-5)
  np.testing.assert_allclose(m["psnr_bicubic"], np.mean(psnr_bicubic), rtol=1e-5)
  np.testing.assert_allclose(m["ssim"], np.mean(ssim), rtol=1e-4)
  # Distribution metrics need same-size images: refused in one line, nothing run.
  assert cli.main(["eval", "--workdir", workdir, "--whole-images", "--metrics", "fid,psnr"]) == 2
  assert "compares features of same-size images" in capsys.readouterr().err


def test_refusals(trained, tmp_path, tfds_dir, capsys):
  # A perceptual loss needs the VGG weights: refused before the workdir exists.
  target = tmp_path / "vgg"
  assert _train(target, tfds_dir, 2, "--config.superres.perceptual_layer=relu5_4",
                "--config.superres.perceptual_weight=0.006") == 2
  assert "needs superres.perceptual_weights" in capsys.readouterr().err
  assert not target.exists()
  assert cli.main(["generate", "--workdir", str(trained / "gan"), "--num", "2",
                   "--out", str(tmp_path / "s.npz")]) == 2
  assert "jaxgan upscale" in capsys.readouterr().err
  photos = _photos(tmp_path / "in")
  assert cli.main(["translate", "--workdir", str(trained / "gan"), "--input", str(photos),
                   "--out", str(tmp_path / "o")]) == 2
  assert "use `jaxgan upscale`" in capsys.readouterr().err


def test_vgg_weights_file_is_read_into_a_fresh_state(tmp_path):
  torch = pytest.importorskip("torch")
  import jax
  from jaxgan.models import vgg
  from jaxgan.train import warm_start
  import ml_collections
  variables = vgg.init_variables("relu5_4", jax.random.PRNGKey(3))
  sd = {f"features.{k.split('_')[1]}.weight":
        torch.from_numpy(np.transpose(np.asarray(v["kernel"]), (3, 2, 0, 1)).copy())
        for k, v in variables["params"].items()}
  sd.update({f"features.{k.split('_')[1]}.bias": torch.from_numpy(np.array(v["bias"]))
             for k, v in variables["params"].items()})
  torch.save(sd, tmp_path / "vgg19.pth")
  config = ml_collections.ConfigDict({"superres": {"perceptual_weights": str(tmp_path / "vgg19.pth"),
                                                   "perceptual_layer": "relu5_4"}})
  loaded = warm_start._perceptual_weights(config, variables)
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)
