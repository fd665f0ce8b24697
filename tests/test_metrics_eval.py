"""`jaxgan eval`, reference-statistics caching and periodic evaluation on a tiny trained run."""

import json
import os

import numpy as np
import pytest

from jaxgan import cli
from jaxgan.errors import UsageError
from jaxgan.metrics import feature_nets, periodic, reference
from helpers import tiny_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tfds_dir):
  from jaxgan.train import loop
  workdir = str(tmp_path_factory.mktemp("evalrun") / "run")
  config = tiny_config(tfds_dir, num_train_steps=1, checkpoint_every_steps=1, log_every_steps=1,
                       sample_every_steps=1)
  loop.train_and_evaluate(config, workdir)
  return workdir, config


def _eval(workdir, *args):
  return cli.main(["eval", "--workdir", workdir, *args])


def test_eval_cli_end_to_end(tiny_run, tmp_path, capsys):
  workdir, _ = tiny_run
  stats_dir, out = tmp_path / "stats", tmp_path / "eval.json"
  args = ("--metrics", "fid,kid,is,pr", "--num", "40", "--batch-size", "16",
          "--real-count", "300", "--stats-dir", str(stats_dir))
  assert _eval(workdir, *args, "--out", str(out)) == 0
  table = capsys.readouterr().out
  assert "fid" in table and "precision" in table
  result = json.loads(out.read_text())
  m = result["metrics"]
  assert result["features"] == "digits" and result["step"] == 1
  assert m["num_samples"] == 40 and m["num_real"] == 300
  for key in ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall"):
    assert np.isfinite(m[key]), key
  assert m["fid"] > 1.0 and 1.0 <= m["is"] <= 10.0  # a 1-step generator is far from digits
  # The reference statistics were cached once, under a key naming every input ...
  (cached,) = os.listdir(stats_dir)
  key = json.loads(str(np.load(stats_dir / cached)["key"]))
  assert (key["dataset"], key["split"], key["image_size"], key["count"], key["feature_net"]) == (
      "digits", "train", 16, 300, "digits")
  # ... and are reused: a second evaluation gives the same numbers without rewriting them.
  mtime = os.path.getmtime(stats_dir / cached)
  assert _eval(workdir, *args, "--out", str(out)) == 0
  assert os.path.getmtime(stats_dir / cached) == mtime
  again = json.loads(out.read_text())["metrics"]
  assert {k: again[k] for k in ("fid", "kid", "is")} == {k: m[k] for k in ("fid", "kid", "is")}


@pytest.mark.parametrize("args,message", [
    (("--metrics", "fid,bogus"), "unknown metric 'bogus'; valid: fid, kid, is, pr (image-to-image runs also"),
    (("--features", "vgg"), "unknown feature net 'vgg'; valid: digits, faces, inception"),
    (("--features", "faces", "--metrics", "is"), "metric 'is' needs a feature net"),
    (("--num", "1"), "--num must be at least 2, got 1"),
    (("--extra",), "unrecognised arguments"),
])
def test_eval_bad_input(tmp_path, capsys, args, message):
  assert _eval(str(tmp_path), *args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("jaxgan: error:") and message in err[0], err


def test_eval_refuses_ground_truth_metrics_on_a_noise_run(tiny_run, capsys):
  assert _eval(tiny_run[0], "--metrics", "fid,psnr") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and ("metric 'psnr' compares outputs with their ground truth: "
                            "image-to-image runs only") in err[0], err


def test_eval_split_chooses_the_reference_of_a_noise_run(tiny_run, tmp_path):
  """--split judges against other data (a run trained on a subset against the whole set,
  as the ADA paper reports FID): the statistics are those of that split."""
  out, stats_dir = tmp_path / "eval.json", tmp_path / "stats"
  args = ("--metrics", "fid", "--num", "40", "--batch-size", "16", "--stats-dir", str(stats_dir),
          "--out", str(out))
  assert _eval(tiny_run[0], *args, "--split", "train[:64]") == 0
  result = json.loads(out.read_text())
  assert result["split"] == "train[:64]" and result["metrics"]["num_real"] == 64
  (cached,) = os.listdir(stats_dir)
  assert json.loads(str(np.load(stats_dir / cached)["key"]))["split"] == "train[:64]"
  first = result["metrics"]["fid"]
  assert _eval(tiny_run[0], *args, "--split", "train[64:128]") == 0
  assert json.loads(out.read_text())["metrics"]["fid"] != first  # other reals, another FID


def test_eval_inception_without_weights_names_the_file(tmp_path, capsys, monkeypatch):
  missing = tmp_path / "no_inception.npz"
  monkeypatch.setenv("JAXGAN_INCEPTION_WEIGHTS", str(missing))
  assert _eval(str(tmp_path), "--features", "inception", "--metrics", "fid") == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and str(missing) in err[0], err


def test_stats_key_is_checked_on_load(tmp_path, capsys):
  config = tiny_config("")
  net = feature_nets.load_feature_net("digits")
  key = reference.stats_key(config, net, count=10)
  x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
  stats = reference.ReferenceStats(key=key, features=x, logits=x, mu=x.mean(0),
                                   sigma=np.cov(x.T))
  path = reference.stats_path(key, str(tmp_path))
  reference.save_stats(path, stats)
  np.testing.assert_array_equal(reference.load_stats(path, key).features, x)
  other = dict(key, resize="nearest->16")
  assert reference.stats_path(other, str(tmp_path)) != path  # never the same file ...
  with pytest.raises(UsageError, match="resize"):               # ... and never read as one
    reference.load_stats(path, other)
  assert os.listdir(tmp_path) == [os.path.basename(path)]      # no temporary left behind


def test_periodic_evaluator(tiny_run, tmp_path):
  from jaxgan.generate import load_run
  workdir, _ = tiny_run
  config, _, state = load_run(workdir)
  config.eval = dict(metrics="fd,kid,pr", num_samples=24, features="digits", batch_size=8)
  evaluator = periodic.make_evaluator(config, stats_dir=str(tmp_path))
  values = evaluator(state.g.params, state.g.batch_stats)
  assert set(values) == {"eval/digits/fid", "eval/digits/kid", "eval/digits/kid_std",
                         "eval/digits/precision", "eval/digits/recall", "eval/digits/seconds"}
  assert all(isinstance(v, float) and np.isfinite(v) for v in values.values())
  again = evaluator(state.g.params, state.g.batch_stats)  # fixed latents: the same numbers
  assert again["eval/digits/fid"] == values["eval/digits/fid"]
