"""The fault-injection suite (tests/faults/run_faults.py) as a CI check: every scenario
survives and loses no data."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, load_script


@pytest.mark.slow
def test_every_fault_is_survived_without_data_loss(tmp_path):
  out = tmp_path / "faults.json"
  table = os.environ.get("JAXGAN_FAULT_TABLE")  # where to keep the markdown table, if asked
  run = subprocess.run([sys.executable, os.path.join(REPO, "tests", "faults", "run_faults.py"),
                        "--json", str(out), *(["--markdown", table] if table else [])],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
  assert out.is_file(), run.stderr[-3000:]
  rows = json.loads(out.read_text())
  print(run.stdout)
  bad = [r for r in rows if not r["survived"] or r["data_lost"]]
  assert not bad, "\n".join(f"{r['scenario']}: {r['note']}" for r in bad)
  assert len(rows) == 13 and run.returncode == 0


def _harness():
  return load_script("tests/faults/run_faults.py")


def _write(path, text):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def test_a_metrics_line_cut_by_a_kill_does_not_hide_the_rows_before_it(tmp_path):
  # CI once counted every row as lost: a SIGKILL mid-write left a partial last line.
  rows = [json.dumps({"step": s, "d_loss": 0.5 * s, "g_loss": 1.0}) + "\n" for s in (1, 2, 3)]
  _write(tmp_path / "metrics.jsonl", "".join(rows) + '{"step": 4, "d_lo')
  suite = _harness().Suite(str(tmp_path))
  assert sorted(suite.rows(str(tmp_path))) == [1, 2, 3]
  before = suite.rows(str(tmp_path))
  _write(tmp_path / "metrics.jsonl", "".join(rows[:2]) + '{"step": 3, "d_loss": 9}\n{"st')
  assert suite.lost(str(tmp_path), {}, before, upto=2) == 0   # rows up to the resumed step kept
  assert suite.lost(str(tmp_path), {}, before, upto=3) == 1   # a changed row still counts
  assert suite.lost_items == ["metrics row of step 3"]


def test_a_rotation_cut_by_a_kill_is_not_data_loss_but_a_changed_file_is(tmp_path):
  harness = _harness()
  for step in (4, 8, 12):
    for name in ("a", "b", "c"):
      _write(tmp_path / "checkpoints" / str(step) / name, f"{step}{name}")
  suite = harness.Suite(str(tmp_path))
  before = suite.snapshot(str(tmp_path))
  # Orbax's rmtree of step 4 (two newer steps exist) killed half way: rotation, not loss.
  (tmp_path / "checkpoints" / "4" / "a").unlink()
  assert suite.lost(str(tmp_path), before, {}, upto=12, keep=2) == 0
  # Without rotation configured, the same missing file is lost.
  assert suite.lost(str(tmp_path), before, {}, upto=12) == 1
  # A file of a rotatable step whose bytes changed is lost, rotation or not.
  (tmp_path / "checkpoints" / "4" / "b").write_text("flipped")
  assert suite.lost(str(tmp_path), before, {}, upto=12, keep=2) == 1
  # Step 8 has only one newer step: deleting it is loss even with keep=2.
  (tmp_path / "checkpoints" / "8" / "a").unlink()
  assert suite.lost(str(tmp_path), before, {}, upto=12, keep=2) == 2
