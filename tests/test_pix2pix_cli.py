"""pix2pix end to end through the CLI: train on the embedded edges2digits, resume, preview
grids, `jaxgan translate` on side-by-side files, and the refusals that protect user data."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan import cli
from helpers import REPO, load_script, run_rows as _rows

CONFIG = os.path.join(REPO, "experiments", "pix2pix_edges2digits.py")
TINY = ("--config.image_size=16", "--config.load_size=16", "--config.model.g_width=4",
        "--config.model.d_width=4", "--config.model.d_layers=1", "--config.batch_size=8",
        "--config.log_every_steps=2", "--config.sample_every_steps=2",
        "--config.checkpoint_every_steps=2", "--config.num_samples=4",
        "--config.progress_bar=false")


def _train(workdir, tfds_dir, steps, *extra):
  return cli.main(["train", "--config", CONFIG, "--workdir", str(workdir),
                   f"--config.data_dir={tfds_dir}", f"--config.num_train_steps={steps}",
                   *TINY, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir):
  """A 4-step run trained as 2 + 2 (resumed), and an uninterrupted 4-step run."""
  root = tmp_path_factory.mktemp("p2p")
  resumed, straight = root / "resumed", root / "straight"
  assert _train(resumed, tfds_dir, 2) == 0
  assert _train(resumed, tfds_dir, 4, "--allow-config-change", "num_train_steps") == 0
  assert _train(straight, tfds_dir, 4) == 0
  return root


def test_training_logs_the_pix2pix_losses_and_resumes_exactly(trained):
  a, b = _rows(trained / "resumed"), _rows(trained / "straight")
  assert sorted(a) == sorted(b) == [2, 4]
  for key in ("d_loss", "g_loss", "g_l1", "d_real", "d_fake_before", "d_fake_after"):
    assert np.isfinite(a[4][key]), key
    np.testing.assert_allclose(a[4][key], b[4][key], rtol=1e-5, err_msg=key)
  assert 0.0 < a[4]["g_l1"] < 2.0


def test_preview_shows_input_output_target(trained):
  grid = np.asarray(Image.open(trained / "straight" / "samples" / "step_0000004.png"))
  # 4 samples of 16 x 48 (three 16x16 panels) in a grid with 2-pixel padding.
  assert grid.shape[0] in (16 + 4, 2 * 16 + 6) and grid.shape[1] % (48 + 2) == 2


def _pairs_folder(path, n=3, size=24):
  """Side-by-side A | B PNGs: A an outline square, B the filled square (edges -> digit)."""
  path.mkdir()
  for i in range(n):
    b = np.zeros((size, size), np.uint8)
    b[4 + i:18, 5:19 - i] = 255
    a = np.zeros_like(b)
    a[4 + i, 5:19 - i] = a[17, 5:19 - i] = a[4 + i:18, 5] = a[4 + i:18, 18 - i] = 255
    Image.fromarray(np.concatenate([a, b], axis=1)).save(path / f"pair{i}.png")
  return path


def test_translate_writes_one_png_per_input_and_never_overwrites(trained, tmp_path, capsys):
  inputs = _pairs_folder(tmp_path / "pairs")
  out = tmp_path / "out"
  args = ["translate", "--workdir", str(trained / "straight"), "--input", str(inputs),
          "--out", str(out), "--paired", "--panels", "--batch-size", "2"]
  assert cli.main(args) == 0
  written = sorted(os.listdir(out))
  assert written == ["pair0.png", "pair1.png", "pair2.png"]
  panel = np.asarray(Image.open(out / "pair1.png"))
  assert panel.shape == (16, 48)                       # input | output | target, greyscale
  # The input panel is the left (A) half: the outline, resized to 16x16 as the pipeline does.
  a = np.asarray(Image.open(inputs / "pair1.png"))[:, :24]
  expected = np.asarray(Image.fromarray(a).resize((16, 16), Image.BILINEAR))
  np.testing.assert_allclose(panel[:, :16], expected, atol=1)
  before = (out / "pair1.png").read_bytes()
  capsys.readouterr()
  assert cli.main(args) == 2                            # exists: refused, nothing touched
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "exist already" in err[0] and "--overwrite" in err[0]
  assert (out / "pair1.png").read_bytes() == before
  assert cli.main(args + ["--overwrite"]) == 0


@pytest.mark.parametrize("mode", ["paper", "eval"])
def test_translate_is_independent_of_batching(trained, tmp_path, mode):
  inputs = _pairs_folder(tmp_path / "pairs")
  outs = []
  for bs in ("1", "3"):
    out = tmp_path / f"out{bs}"
    assert cli.main(["translate", "--workdir", str(trained / "straight"), "--input",
                     str(inputs), "--out", str(out), "--paired", "--batch-size", bs,
                     "--mode", mode]) == 0
    outs.append([np.asarray(Image.open(out / f"pair{i}.png")) for i in range(3)])
  for x, y in zip(*outs):
    np.testing.assert_array_equal(x, y)


def test_held_out_judge(trained, tmp_path):
  """scripts/evaluate_pix2pix_digits.py: its figures on identity and on the tiny run."""
  judge = load_script("scripts/evaluate_pix2pix_digits.py")
  x = np.random.default_rng(0).uniform(-1, 1, (20, 16, 16, 1)).astype(np.float32)
  same = judge.report(x, x)
  assert same["l1"] == 0 and same["same_class"] == 1 and same["psnr_db"] >= 99
  rows = judge.evaluate(str(trained / "straight"), "train[1790:]", grid=str(tmp_path / "g.png"))
  assert rows["num_pairs"]["n"] == 7 and rows["num_pairs"]["step"] == 4
  # 7 panels of 16 x 48 in 4 columns: 2 rows.
  assert np.asarray(Image.open(tmp_path / "g.png")).shape == (2 * 16 + 6, 4 * 48 + 10)
  for name in ("trained (paper)", "trained (eval)", "untrained (paper)", "edges as output"):
    assert 0 <= rows[name]["l1"] <= 1 and 0 <= rows[name]["same_class"] <= 1, name


def test_eval_judges_held_out_pairs_as_computed_by_hand(trained, tmp_path, capsys):
  """`jaxgan eval` on a pix2pix run: its L1/PSNR/SSIM and FID are those of the run's
  translations of the split's pairs, computed here step by step (batches of 4 for 5
  pairs: the padded last batch must not change anything)."""
  import json
  import jax
  from jaxgan import images as image_lib
  from jaxgan.data import paired
  from jaxgan.generate import load_run
  from jaxgan.metrics import feature_nets, full_reference as fr
  from jaxgan.metrics.frechet import frechet_distance, gaussian_stats
  from jaxgan.metrics.features import extract_features
  from jaxgan.train.translation_step import translate
  from jaxgan.metrics import lpips
  from fixtures.make_lpips_fixture import write_seeded_npz
  workdir, out = str(trained / "straight"), tmp_path / "eval.json"
  write_seeded_npz(tmp_path / "lpips_vgg.npz", "vgg")  # VGG16: 16-pixel images suffice
  assert cli.main(["eval", "--workdir", workdir, "--split", "train[1790:]", "--num", "5",
                   "--batch-size", "4", "--metrics", "fid,kid,l1,psnr,ssim,lpips",
                   "--lpips", str(tmp_path / "lpips_vgg.npz"), "--out", str(out)]) == 0
  assert "pix2pix on edges2digits/train[1790:]" in capsys.readouterr().out
  result = json.loads(out.read_text())
  m = result["metrics"]
  assert result["task"] == "pix2pix" and result["mode"] == "eval" and m["num_examples"] == 5
  config, gan, state = load_run(workdir)
  config.split = "train[1790:]"
  x, y = paired.paired_examples(config, 5)
  fake = image_lib.to_uint8(translate(gan, state.g.params, state.g.batch_stats, x,
                                      jax.random.PRNGKey(0), mode="eval"))
  real = image_lib.to_uint8(y)
  # Float64 formulas here, float32 on the device there.
  np.testing.assert_allclose(m["l1"], np.mean(np.abs(fake / 255.0 - real / 255.0)), rtol=1e-5)
  mse = np.mean((fake.astype(float) - real) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(m["psnr"], np.mean(10 * np.log10(255.0 ** 2 / mse)), rtol=1e-5)
  np.testing.assert_allclose(m["ssim"], np.mean([fr.ssim(a, b) for a, b in zip(fake, real)]),
                             rtol=1e-5)
  net = feature_nets.load_feature_net("digits")
  f_fake, f_real = extract_features(net, fake)[0], extract_features(net, real)[0]
  fid = frechet_distance(*gaussian_stats(f_fake), *gaussian_stats(f_real))
  np.testing.assert_allclose(m["fid"], fid, rtol=1e-3)
  net, variables = lpips.load(str(tmp_path / "lpips_vgg.npz"))
  d = lpips.distance(variables, fake / 127.5 - 1.0, real / 127.5 - 1.0, net)
  np.testing.assert_allclose(m["lpips"], np.mean(d), rtol=1e-5)
  assert 0 < m["l1"] < 1 and m["ssim"] < 1 and np.isfinite(m["kid"])


def test_periodic_eval_of_held_out_pairs_keeps_the_best_psnr(trained, tmp_path, tfds_dir):
  """eval.every_steps on a pix2pix run: the held-out figures join the logged rows, the
  checkpoint of the highest PSNR is kept, and the last row's figures are `jaxgan eval`'s."""
  import json
  from fixtures.make_lpips_fixture import write_seeded_npz
  wd, weights = tmp_path / "run", tmp_path / "vgg.npz"
  write_seeded_npz(weights, "vgg")
  assert _train(wd, tfds_dir, 4, "--config.eval.every_steps=2", "--config.eval.num_samples=6",
                "--config.eval.metrics=fid,psnr,ssim,lpips", "--config.eval.split=train[1790:]",
                "--config.eval.keep_best=psnr", "--config.eval.batch_size=4",
                f"--config.eval.lpips={weights}") == 0
  rows = _rows(wd)
  psnr = {step: rows[step]["eval/digits/psnr"] for step in (2, 4)}
  best = json.loads((wd / "best" / "best.json").read_text())
  assert best["step"] == max(psnr, key=psnr.get) and best["value"] == max(psnr.values())
  assert cli.main(["eval", "--workdir", str(wd), "--split", "train[1790:]", "--num", "6",
                   "--batch-size", "4", "--metrics", "fid,psnr,ssim,lpips", "--lpips",
                   str(weights), "--out", str(tmp_path / "e.json")]) == 0
  m = json.loads((tmp_path / "e.json").read_text())["metrics"]
  for key in ("fid", "psnr", "ssim", "lpips"):
    assert rows[4][f"eval/digits/{key}"] == pytest.approx(m[key], rel=1e-6), key


@pytest.mark.parametrize("command,message", [
    (["generate", "--num", "4", "--out", "{tmp}/s.npz"], "use `jaxgan translate"),
    (["translate", "--input", "{tmp}/missing", "--out", "{tmp}/o"], "neither an image file"),
    (["translate", "--input", "{tmp}", "--out", "{tmp}/o", "--mode", "magic"], "unknown --mode"),
])
def test_clear_errors(trained, tmp_path, capsys, command, message):
  Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "odd.png")
  args = [a.format(tmp=tmp_path) for a in command]
  args[1:1] = ["--workdir", str(trained / "straight")]
  if command[0] == "translate" and "--mode" not in command:
    args.append("--paired")
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("jaxgan: error:") and message in err[0], err


def test_odd_width_pair_is_refused(trained, tmp_path, capsys):
  Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "odd.png")
  assert cli.main(["translate", "--workdir", str(trained / "straight"), "--input",
                   str(tmp_path / "odd.png"), "--out", str(tmp_path / "o"), "--paired"]) == 2
  assert "even width" in capsys.readouterr().err
  assert not (tmp_path / "o").exists()
