"""DeepFill v2 end to end through the CLI: train on the embedded digits with holes drawn in
the step (the same holes under jit or pmap on 8 devices), preview, `jaxgan
inpaint` with mask files and drawn masks, and the refusals that protect user data."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan import cli
from helpers import REPO, run_rows as _rows

CONFIG = os.path.join(REPO, "experiments", "deepfill_digits.py")
TINY = ("--config.image_size=16", "--config.model.g_width=4", "--config.model.d_width=4",
        "--config.batch_size=8", "--config.log_every_steps=2", "--config.sample_every_steps=2",
        "--config.checkpoint_every_steps=2", "--config.num_samples=4",
        "--config.progress_bar=false")


def _train(workdir, tfds_dir, steps, *extra):
  return cli.main(["train", "--config", CONFIG, "--workdir", str(workdir),
                   f"--config.data_dir={tfds_dir}", f"--config.num_train_steps={steps}",
                   *TINY, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tfds_dir):
  """4-step runs under sharded jit on 8 devices and under pmap (resuming is every
  model's loop; tests/test_reliability.py checks it)."""
  root = tmp_path_factory.mktemp("deepfill")
  assert _train(root / "straight", tfds_dir, 4) == 0
  assert _train(root / "pmap", tfds_dir, 4, "--config.parallel=pmap") == 0
  return root


def test_training_logs_finite_losses_and_pmap_draws_the_same_holes(trained):
  b, p = (_rows(trained / k) for k in ("straight", "pmap"))
  assert sorted(b) == sorted(p) == [2, 4]
  for key in ("d_loss", "g_loss", "g_l1", "g_l1_coarse", "g_l1_refined", "d_real"):
    assert np.isfinite(b[4][key]), key
    # pmap: 8 devices each draw their slice of the global batch's holes (the losses
    # would differ with other holes); the reductions' order differs, hence the tolerance.
    np.testing.assert_allclose(p[4][key], b[4][key], rtol=2e-4, atol=1e-6, err_msg=key)


def test_preview_shows_holes_result_original(trained):
  grid = np.asarray(Image.open(trained / "straight" / "samples" / "step_0000004.png"))
  assert grid.shape[0] in (16 + 4, 2 * 16 + 6) and grid.shape[1] % (48 + 2) == 2


def _digit_files(path, n=2, size=(20, 28)):
  """Greyscale images of a size that is no multiple of 8, and a mask per image."""
  rng = np.random.default_rng(0)
  (path / "images").mkdir()
  (path / "masks").mkdir()
  for i in range(n):
    Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(path / "images" / f"{i}.png")
    mask = np.zeros(size, np.uint8)
    mask[5:12, 6 + i:15] = 255
    Image.fromarray(mask).save(path / "masks" / f"{i}.png")
  return path / "images", path / "masks"


def test_inpaint_keeps_every_known_pixel_and_fills_the_holes(trained, tmp_path):
  images, masks = _digit_files(tmp_path)
  out = tmp_path / "out"
  args = ["inpaint", "--workdir", str(trained / "straight"), "--input", str(images),
          "--out", str(out)]
  assert cli.main(args + ["--masks", str(masks)]) == 0
  for i in range(2):
    src = np.asarray(Image.open(images / f"{i}.png"))
    hole = np.asarray(Image.open(masks / f"{i}.png")) >= 128
    result = np.asarray(Image.open(out / f"{i}.png"))
    assert result.shape == src.shape                      # its own size, not the run's
    np.testing.assert_array_equal(result[~hole], src[~hole])
    assert np.any(result[hole] != src[hole])              # the holes were filled, not kept
  assert cli.main(args + ["--masks", str(masks)]) == 2    # exists: refused
  drawn = tmp_path / "drawn"
  assert cli.main(["inpaint", "--workdir", str(trained / "straight"), "--input", str(images),
                   "--out", str(drawn), "--random-masks", "--panels"]) == 0
  panel = np.asarray(Image.open(drawn / "0.png"))
  assert panel.shape == (20, 56)                          # holes | result


@pytest.mark.parametrize("extra,message", [
    ([], "give the holes"),
    (["--masks", "{tmp}/nowhere"], "neither a mask file nor a folder"),
    (["--masks", "{tmp}/small.png"], "a mask must have its image's size"),
])
def test_inpaint_errors(trained, tmp_path, capsys, extra, message):
  images, _ = _digit_files(tmp_path)
  Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "small.png")
  args = ["inpaint", "--workdir", str(trained / "straight"), "--input", str(images),
          "--out", str(tmp_path / "o"), *[a.format(tmp=tmp_path) for a in extra]]
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0], err
  assert not (tmp_path / "o").exists()


def test_generate_names_the_inpaint_command(trained, tmp_path, capsys):
  assert cli.main(["generate", "--workdir", str(trained / "straight"), "--num", "2",
                   "--out", str(tmp_path / "s.npz")]) == 2
  assert "jaxgan inpaint" in capsys.readouterr().err


def test_eval_fills_the_training_holes_and_keeps_the_rest(trained, tmp_path):
  """`jaxgan eval` on held-out digits: the holes are training's for each index (seeded),
  and pixels outside them are the image's own, so L1 is at most the mean hole area."""
  import json
  import jax
  from jaxgan.data import masks
  out = tmp_path / "eval.json"
  args = ["eval", "--workdir", str(trained / "straight"), "--split", "train[1790:]",
          "--features", "digits"]
  assert cli.main(args + ["--out", str(out)]) == 0
  m = json.loads(out.read_text())["metrics"]
  assert m["num_examples"] == 7
  holes = np.asarray(masks.random_masks(jax.random.PRNGKey(0), np.arange(7), 16, "deepfill"))
  assert 0 < m["l1"] <= holes.mean() and 0 < m["ssim"] < 1 and np.isfinite(m["fid"])
  assert cli.main(args + ["--out", str(tmp_path / "again.json")]) == 0  # deterministic
  assert json.loads((tmp_path / "again.json").read_text())["metrics"]["l1"] == m["l1"]
  assert cli.main(args + ["--out", str(tmp_path / "seed1.json"), "--seed", "1"]) == 0
  assert json.loads((tmp_path / "seed1.json").read_text())["metrics"]["l1"] != m["l1"]
