"""Periodic evaluation inside the training loop (config.eval)."""

import json
import os

import pytest

from helpers import tiny_config
from jaxgan.errors import UsageError
from jaxgan.train import loop


def test_periodic_eval_joins_the_logged_rows(tmp_path, tfds_dir, monkeypatch):
  monkeypatch.setenv("JAXGAN_STATS_DIR", str(tmp_path / "stats"))
  c = tiny_config(tfds_dir)
  c.eval.update(every_steps=2, metrics="fid", num_samples=16, batch_size=8)
  wd = str(tmp_path / "run")
  loop.train_and_evaluate(c, wd)
  rows = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [2, 4]
  assert all(r["eval/digits/fid"] > 0 and "d_loss" in r for r in rows)
  # The best checkpoint by FID is kept apart, named in best/best.json.
  best = json.load(open(os.path.join(wd, "best", "best.json")))
  fids = {r["step"]: r["eval/digits/fid"] for r in rows}
  assert best["step"] == min(fids, key=fids.get) and best["value"] == min(fids.values())
  assert os.listdir(os.path.join(wd, "best", "checkpoints")) == [str(best["step"])]


def test_eval_interval_must_fall_on_logged_steps(tmp_path, tfds_dir):
  c = tiny_config(tfds_dir)
  c.eval.every_steps = 3
  with pytest.raises(UsageError, match="multiple of log_every_steps=2"):
    loop.train_and_evaluate(c, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")


def test_keep_best_keeps_the_highest_of_a_higher_is_better_metric(tmp_path, tfds_dir,
                                                                   monkeypatch):
  monkeypatch.setenv("JAXGAN_STATS_DIR", str(tmp_path / "stats"))
  c = tiny_config(tfds_dir, num_train_steps=6)
  c.eval.update(every_steps=2, metrics="is", num_samples=16, batch_size=8, keep_best="is")
  wd = str(tmp_path / "run")
  loop.train_and_evaluate(c, wd)
  scores = {r["step"]: r["eval/digits/is"] for r in map(json.loads, open(os.path.join(wd, "metrics.jsonl")))}
  assert len(set(scores.values())) == 3  # distinct, so lowest and highest differ
  best = json.load(open(os.path.join(wd, "best", "best.json")))
  assert best["step"] == max(scores, key=scores.get) and best["value"] == max(scores.values())


def test_keep_best_must_be_an_evaluated_value(tmp_path, tfds_dir):
  c = tiny_config(tfds_dir)
  c.eval.update(every_steps=2, metrics="kid", keep_best="fid")
  with pytest.raises(UsageError, match="eval.keep_best='fid' is not among the evaluated"):
    loop.train_and_evaluate(c, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")
