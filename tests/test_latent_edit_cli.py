"""`jaxgan project` and `jaxgan latent-edit` on a tiny trained run: the files they write,
and one-line refusals that write nothing."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan import cli
from jaxgan.edit import latent_files
from test_cli import TINY, _train
from test_latent_edit import _stylegan2


@pytest.fixture(scope="module")
def run(tmp_path_factory, tfds_dir):
  workdir = tmp_path_factory.mktemp("latent") / "run"
  assert _train(workdir, *TINY, tfds_dir=tfds_dir) == 0
  return str(workdir)


@pytest.fixture
def images(tmp_path):
  """Two class folders of 16x16 greyscale PNGs (and one 20x24 RGB file: cropped, resized)."""
  rng = np.random.default_rng(0)
  for group, n in (("a", 2), ("b", 2)):
    (tmp_path / "in" / group).mkdir(parents=True)
    for i in range(n):
      Image.fromarray(rng.integers(0, 255, (16, 16), np.uint8)).save(tmp_path / "in" / group / f"{i}.png")
  Image.fromarray(rng.integers(0, 255, (20, 24, 3), np.uint8)).save(tmp_path / "in" / "top.png")
  return str(tmp_path / "in")


def _one_error(capsys, message):
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("jaxgan: error:") and message in err[0], err


def test_project_then_edit(run, images, tmp_path, capsys):
  out = str(tmp_path / "proj")
  args = ["project", "--workdir", run, "--input", images, "--out", out, "--steps", "10",
          "--restarts", "2", "--panels"]
  assert cli.main(args) == 0
  assert "projected 5 image(s) into z" in capsys.readouterr().out
  with np.load(os.path.join(out, "latents.npz")) as f:
    data = {k: f[k] for k in f.files}
  assert str(data["space"]) == "z" and data["latents"].shape == (5, 100)
  assert data["names"].tolist() == ["a/0.png", "a/1.png", "b/0.png", "b/1.png", "top.png"]
  assert data["groups"].tolist() == ["a", "a", "b", "b", ""]
  assert "labels" not in data and int(data["step"]) == 2 and str(data["model"]) == "dcgan"
  assert np.all(np.isfinite(data["psnr_db"])) and data["loss"].shape == (5,)
  panel = np.asarray(Image.open(os.path.join(out, "b", "1.png")))
  assert panel.shape == (16, 32)  # input | reconstruction
  # Running again would replace outputs: refused, nothing touched.
  before = os.path.getmtime(os.path.join(out, "latents.npz"))
  assert cli.main(args) == 2
  _one_error(capsys, "exist already")
  assert os.path.getmtime(os.path.join(out, "latents.npz")) == before

  latents = os.path.join(out, "latents.npz")
  interp = str(tmp_path / "interp")
  assert cli.main(["latent-edit", "--workdir", run, "--latents", latents, "--out", interp,
                   "--interpolate", "3"]) == 0
  with np.load(os.path.join(interp, "edits.npz")) as f:
    frames, names = f["frames"], f["names"].tolist()
  assert frames.shape == (4, 3, 100) and names[0] == "a/0_to_1"
  np.testing.assert_allclose(frames[:, 0], data["latents"][:-1], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(frames[:, -1], data["latents"][1:], rtol=1e-5, atol=1e-6)
  strip = np.asarray(Image.open(os.path.join(interp, "a", "0_to_1.png")))
  assert strip.shape == (16 + 4, 3 * 18 + 2)  # one row of 3 frames, 2-pixel borders

  attr = str(tmp_path / "attr")
  assert cli.main(["latent-edit", "--workdir", run, "--latents", latents, "--out", attr,
                   "--attribute", latents, "--from", "a", "--to", "b", "--strengths", "0,1"]) == 0
  with np.load(os.path.join(attr, "edits.npz")) as f:
    frames, direction = f["frames"], f["direction"]
  np.testing.assert_allclose(direction, data["latents"][2:4].mean(0) - data["latents"][:2].mean(0),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(frames[:, 0, 1], data["latents"] + direction, rtol=1e-5, atol=1e-6)
  assert os.path.isfile(os.path.join(attr, "top.png"))


@pytest.mark.parametrize("extra,message", [
    ([], "give the latents"),
    (["--samples", "2"], "give exactly one edit"),
    (["--samples", "2", "--pca", "2"], "--pca needs a W space"),
    (["--samples", "2", "--interpolate", "3", "--space", "w"], "not one of this generator's"),
    (["--samples", "2", "--attribute", "x.npz"], "--attribute needs --from"),
    (["--samples", "2", "--interpolate", "3", "--strengths", "a"], "comma-separated numbers"),
    (["--latents", "nope.npz", "--interpolate", "3"], "does not exist"),
])
def test_latent_edit_refusals(run, tmp_path, capsys, extra, message):
  out = tmp_path / "out"
  assert cli.main(["latent-edit", "--workdir", run, "--out", str(out), *extra]) == 2
  _one_error(capsys, message)
  assert not out.exists()


def test_project_refusals(run, images, tmp_path, capsys):
  out = tmp_path / "out"
  base = ["project", "--workdir", run, "--input", images, "--out", str(out)]
  for extra, message in ((["--space", "w"], "not one of this generator's"),
                         (["--labels", "1"], "class-conditional"),
                         (["--steps", "0"], "--steps"),
                         (["--perceptual-weight", "1"], "needs --vgg19"),
                         (["--lpips-weight", "1"], "needs --lpips"),
                         (["--pixel-weight", "0"], "distance is empty")):
    assert cli.main([*base, *extra]) == 2
    _one_error(capsys, message)
    assert not out.exists()
  bad = tmp_path / "bad.npz"
  np.savez(bad, latents=np.zeros((2, 7)), space="z")
  assert cli.main(["latent-edit", "--workdir", run, "--out", str(out), "--latents", str(bad),
                   "--interpolate", "2"]) == 2
  _one_error(capsys, "do not fit this run's z space (100,)")


def test_pca_edits_of_a_style_generator(tmp_path, monkeypatch):
  # The PCA branch needs W: a tiny StyleGAN2 stands in for a run.
  g, v = _stylegan2()
  config = type("C", (), {"channels": 1, "image_size": 8})()
  monkeypatch.setattr(latent_files, "load_noise_generator", lambda workdir: (config, g, v, 0))
  out = latent_files.edit_files("unused", str(tmp_path / "pca"), samples=2, space="w+", pca=2,
                                pca_samples=500, strengths=(-1.0, 0.0, 1.0), layers="0-1")
  frames, comps, stds = out["frames"], out["components"], out["stds"]
  assert frames.shape == (2, 2, 3, 4, 8) and comps.shape == (2, 8) and np.all(stds[:-1] >= stds[1:])
  np.testing.assert_allclose(frames[:, :, 2, :2] - frames[:, :, 1, :2],
                             np.broadcast_to((comps * stds[:, None])[None, :, None], (2, 2, 2, 8)),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(frames[:, :, 2, 2:], frames[:, :, 1, 2:])  # layers 2-3 untouched
  grid = np.asarray(Image.open(tmp_path / "pca" / "sample_0000.png"))
  assert grid.shape == (2 * 10 + 2, 3 * 10 + 2)  # 2 directions x 3 strengths of 8x8


def test_a_vgg19_file_that_is_not_one_is_refused(run, images, tmp_path, capsys):
  bad = tmp_path / "vgg19.pth"
  bad.write_bytes(b"not a torch file")
  out = tmp_path / "out"
  assert cli.main(["project", "--workdir", run, "--input", images, "--out", str(out),
                   "--perceptual-weight", "1", "--vgg19", str(bad)]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and ("--vgg19" in err[0] or "needs PyTorch" in err[0]), err
  assert not out.exists()


def test_held_out_judge(run, tmp_path):
  """scripts/evaluate_latent_edits_digits.py on the tiny run: its figures are rates and the
  grid shows digit | reconstruction | 9 edits."""
  from helpers import load_script
  judge = load_script("scripts/evaluate_latent_edits_digits.py")
  from jaxgan.edit.project import ProjectOptions
  rows = judge.evaluate(run, "train[1790:]", ProjectOptions(num_steps=5), grid=str(tmp_path / "g.png"),
                        strengths=(1.0, 2.0))
  assert rows["run"]["held_out"] == 7 and rows["run"]["step"] == 2
  for key in ("projection", "nearest"):
    assert 0 <= rows[key]["true_class"] <= 1 and rows[key]["psnr_db"] > 0
  pairs = rows["edit_pairs"]
  assert pairs["evaluated"] + pairs["left_out"] == 7 * 9
  for strength in ("strength_1", "strength_2"):
    rate = rows[strength]["edit_to_target"]
    assert (rate is None) == (pairs["evaluated"] == 0) and (rate is None or 0 <= rate <= 1)
  assert np.asarray(Image.open(tmp_path / "g.png")).shape == (7 * 18 + 2, 11 * 18 + 2)


def test_project_with_lpips_weights_from_an_npz(run, images, tmp_path, capsys):
  """--lpips with an .npz of `jaxgan convert lpips` (no torch needed): NVIDIA's loss,
  LPIPS alone; the saved loss is the reconstructions' LPIPS against the targets."""
  from jaxgan.edit.translate import load_image
  from jaxgan.metrics import lpips
  from fixtures.make_lpips_fixture import write_seeded_npz
  weights = tmp_path / "vgg.npz"
  write_seeded_npz(weights, "vgg")
  out = tmp_path / "proj"
  assert cli.main(["project", "--workdir", run, "--input", images, "--out", str(out),
                   "--steps", "5", "--lpips", str(weights), "--pixel-weight", "0"]) == 0
  capsys.readouterr()
  with np.load(out / "latents.npz") as f:
    names, loss = f["names"].tolist(), f["loss"]
  net, variables = lpips.load(str(weights))
  recon = np.stack([np.asarray(Image.open(out / n), np.float32)[..., None] / 127.5 - 1
                    for n in names])
  targets = np.stack([load_image(os.path.join(images, n), 16, 1) for n in names])
  # The PNGs are 8-bit: the saved float loss and the PNGs' LPIPS agree to rounding.
  np.testing.assert_allclose(loss, lpips.distance(variables, recon, targets, net), atol=0.02)
  assert cli.main(["project", "--workdir", run, "--input", images, "--out", str(tmp_path / "o2"),
                   "--lpips", str(weights), "--lpips-weight", "0"]) == 2
  _one_error(capsys, "--lpips is given but --lpips-weight is 0")
