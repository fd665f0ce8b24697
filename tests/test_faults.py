"""The fault-injection suite (tests/faults/run_faults.py) as a CI check: every scenario
survives and loses no data."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO


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
