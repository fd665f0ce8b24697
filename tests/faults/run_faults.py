"""Fault-injection suite (issue 4): trains a tiny model through the real CLI, injects
each fault, recovers, and prints a table: scenario, injected, survived, steps lost,
data lost.

  python tests/faults/run_faults.py [--markdown OUT.md] [--json OUT.json] [--only NAME,...]

"Data lost" counts files that existed before the recovery (completed checkpoints,
config, dataset) and afterwards are gone or changed (a corrupt checkpoint moved to
corrupt_checkpoints/ byte for byte is kept, not lost; a step rotated out as
--config.keep_checkpoints says, even one whose deletion a kill cut short, is not lost),
plus metrics rows of steps up to the resumed step that changed (a last line cut by a
kill is no row). "Steps lost" counts steps computed before the fault
that had to be computed again. Where a run resumes, its final parameters are compared
bit for bit with an uninterrupted run. Exit status 1 if any scenario fails.
"""

import argparse
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = 24            # the reference run's length
CKPT_EVERY = 4
TINY = ["--config.image_size=16", "--config.model.g_width=4", "--config.model.d_width=4",
        "--config.batch_size=8", "--config.log_every_steps=1", "--config.sample_every_steps=1000",
        f"--config.checkpoint_every_steps={CKPT_EVERY}", "--config.keep_checkpoints=1000",
        "--config.progress_bar=false", "--config.num_samples=4"]


@dataclass
class Row:
  scenario: str
  injected: str
  survived: bool = False
  steps_lost: int = 0
  data_lost: int = 0
  note: str = ""


class Suite:
  def __init__(self, root: str):
    self.root = root
    self.data_dir = os.path.join(root, "tfds")
    self.env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=os.path.join(root, "xla-cache"),
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
                    JAXGAN_CACHE=os.path.join(root, "cache"), PYTHONUNBUFFERED="1")
    self.reference_params = None
    self.lost_items: list[str] = []  # what lost() found, named in the scenario's row

  # --- running the CLI ---------------------------------------------------------------------

  def command(self, workdir: str, steps: int = STEPS, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jaxgan.cli", "train", "--config",
            os.path.join(REPO, "experiments", "dcgan_digits.py"), "--workdir", workdir,
            f"--config.data_dir={self.data_dir}", *TINY, f"--config.num_train_steps={steps}",
            *extra]

  def start(self, workdir, steps=STEPS, *extra, env=None, preexec=None) -> subprocess.Popen:
    return subprocess.Popen(self.command(workdir, steps, *extra), env=env or self.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec)

  def run(self, workdir, steps=STEPS, *extra, env=None, preexec=None, timeout=300):
    """(exit code, stderr) of a CLI run to completion."""
    p = self.start(workdir, steps, *extra, env=env, preexec=preexec)
    _, err = p.communicate(timeout=timeout)
    return p.returncode, err

  # --- reading a workdir -------------------------------------------------------------------

  @staticmethod
  def logged_step(workdir: str) -> int:
    return max(Suite.rows(workdir), default=0)

  @staticmethod
  def checkpoints(workdir: str) -> list[int]:
    d = os.path.join(workdir, "checkpoints")
    return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []

  def params(self, workdir: str, step: int | None = None):
    """The checkpointed arrays of `step` (default: newest), as numpy."""
    import jax
    import numpy as np
    from jaxgan import config as config_lib
    from jaxgan.train import build, checkpoint, parallel
    with open(os.path.join(workdir, "config.json")) as f:
      config = config_lib.from_json(f.read())
    gan = build.build_gan(config)
    ckpt = checkpoint.Checkpointer(workdir)
    try:
      state = ckpt.restore(build.abstract_state(gan, config, parallel.make_mesh()), step)
    finally:
      ckpt.close()
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]

  def difference_to_reference(self, workdir: str) -> float:
    """Max over float tensors of |a - b| / |b| (Frobenius) against the reference run."""
    import numpy as np
    got = self.params(workdir)
    return max(float(np.linalg.norm(a.astype(np.float64) - b) / max(np.linalg.norm(b), 1e-30))
               for a, b in zip(got, self.reference_params) if a.dtype.kind == "f")

  def same_as_reference(self, workdir: str) -> bool:
    import numpy as np
    got = self.params(workdir)
    return len(got) == len(self.reference_params) and all(
        a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(got, self.reference_params))

  @staticmethod
  def snapshot(workdir: str) -> dict[str, str]:
    """sha256 of every completed-checkpoint file and config.json, and the metrics rows."""
    out = {}
    for path in glob.glob(os.path.join(workdir, "checkpoints", "*", "**"), recursive=True):
      rel = os.path.relpath(path, os.path.join(workdir, "checkpoints"))
      if os.path.isfile(path) and rel.split(os.sep)[0].isdigit():
        out["checkpoints/" + rel] = _sha(path)
    if os.path.isfile(os.path.join(workdir, "config.json")):
      out["config.json"] = _sha(os.path.join(workdir, "config.json"))
    return out

  @staticmethod
  def rows(workdir: str) -> dict[int, dict]:
    """The metrics rows by step. A last line cut by a kill mid-write is not a row (the
    trainer drops it on resume), and must not hide the whole file's rows."""
    keep = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")
    try:
      with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [l for l in f if l.endswith("\n")]
    except OSError:
      return {}
    out = {}
    for line in lines:
      try:
        r = json.loads(line)
      except ValueError:
        continue
      if "step" in r:
        out[r["step"]] = {k: r[k] for k in keep if k in r}
    return out

  def lost(self, workdir: str, before: dict[str, str], rows_before: dict[int, dict],
           upto: int, allow_config_change: bool = False, keep: int | None = None) -> int:
    """Files of `before` now missing or changed (a quarantined copy counts as kept), plus
    metrics rows of steps <= `upto` that changed. With `keep`, a step whose files were
    deleted (all of them, or some: a kill can land inside Orbax's rmtree of it) while at
    least `keep` newer complete steps exist was rotated out as configured, not lost."""
    after = self.snapshot(workdir)
    now = self.checkpoints(workdir)
    rotated = {str(s) for s in {int(p.split("/")[1]) for p in before if p.startswith("checkpoints/")}
               if keep and sum(t > s for t in now) >= keep}
    quarantined = {}
    for path in glob.glob(os.path.join(workdir, "corrupt_checkpoints", "*", "**"), recursive=True):
      if os.path.isfile(path):
        rel = os.path.relpath(path, os.path.join(workdir, "corrupt_checkpoints"))
        step_dir, _, rest = rel.partition(os.sep)
        quarantined[f"checkpoints/{step_dir.split('-')[0]}/{rest}"] = _sha(path)
    lost = [path for path, sha in before.items()
            if after.get(path) != sha and quarantined.get(path) != sha
            and not (path == "config.json" and allow_config_change)
            and not (path not in after and path.startswith("checkpoints/")
                     and path.split("/")[1] in rotated)]
    rows_after = self.rows(workdir)
    lost += [f"metrics row of step {s}" for s, r in rows_before.items()
             if s <= upto and rows_after.get(s) != r]
    if lost:
      print(f"LOST in {workdir}: {lost[:5]}", file=sys.stderr)
      self.lost_items += lost
    return len(lost)


def _sha(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.sha256(f.read()).hexdigest()


def _tail(err: str) -> str:
  lines = [l for l in err.strip().splitlines() if l.startswith("jaxgan:")]
  return lines[-1] if lines else (err.strip().splitlines() or [""])[-1]


def _wait_for_step(p: subprocess.Popen, workdir: str, step: int, timeout=240) -> int:
  t = time.time()
  while time.time() - t < timeout:
    s = Suite.logged_step(workdir)
    if s >= step or p.poll() is not None:
      return s
    time.sleep(0.01)
  raise TimeoutError(f"step {step} not reached in {timeout} s")


# --- scenarios --------------------------------------------------------------------------------

def reference(suite: Suite) -> Row:
  wd = os.path.join(suite.root, "reference")
  code, err = suite.run(wd)
  suite.reference_params = suite.params(wd) if code == 0 else None
  return Row("uninterrupted reference", "none", code == 0,
             note=f"{STEPS} steps, checkpoint every {CKPT_EVERY}" if code == 0 else _tail(err))


def sigkill(suite: Suite, kills: int = 5) -> Row:
  wd = os.path.join(suite.root, "sigkill")
  targets = sorted(random.Random(0).sample(range(2, STEPS - 1), kills))
  lost_steps = lost_data = 0
  at = []
  keep = ["--config.keep_checkpoints=2"]  # rotation runs while the kills land
  for target in targets:
    before, rows, resumed = suite.snapshot(wd), suite.rows(wd), max(suite.checkpoints(wd), default=0)
    p = suite.start(wd, STEPS, *keep)
    reached = _wait_for_step(p, wd, target)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    kept = max(suite.checkpoints(wd), default=0)
    at.append(f"{reached}->{kept}")
    lost_steps += max(reached - kept, 0)
    lost_data += suite.lost(wd, before, rows, resumed, keep=2)
  before, rows, resumed = suite.snapshot(wd), suite.rows(wd), max(suite.checkpoints(wd), default=0)
  code, err = suite.run(wd, STEPS, *keep)
  lost_data += suite.lost(wd, before, rows, resumed, keep=2)
  same = code == 0 and suite.same_as_reference(wd)
  return Row(f"SIGKILL x{kills}, resume",
             f"kill -9 at random steps (logged step->newest checkpoint: {', '.join(at)})",
             same, lost_steps, lost_data,
             "final params bit-identical to the reference" if same else f"exit {code}: {_tail(err)}")


def stop_signal(suite: Suite, sig: signal.Signals) -> Row:
  wd = os.path.join(suite.root, sig.name.lower())
  p = suite.start(wd)
  _wait_for_step(p, wd, 6)
  p.send_signal(sig)
  _, err = p.communicate(timeout=120)
  stopped_at, saved = suite.logged_step(wd), max(suite.checkpoints(wd), default=0)
  ok = p.returncode == 0 and "checkpoint saved" in err and saved >= stopped_at
  before, rows = suite.snapshot(wd), suite.rows(wd)
  code, err2 = suite.run(wd)
  same = code == 0 and suite.same_as_reference(wd)
  return Row(f"{sig.name}, resume", f"{sig.name} after step 6", ok and same,
             max(stopped_at - saved, 0), suite.lost(wd, before, rows, saved),
             f"exit {p.returncode}, '{_tail(err)}'; resumed run bit-identical: {same}")


def sigterm_two_processes(suite: Suite) -> Row:
  """SIGTERM reaches only process 1 of 2: both agree to stop at the same step."""
  import socket
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
  wd = os.path.join(suite.root, "sigterm_2proc")
  env = dict(suite.env, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  procs = [suite.start(wd, STEPS, f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                       "--config.distributed.num_processes=2", f"--config.distributed.process_id={i}",
                       "--config.preemption_sync_every_steps=2", env=env) for i in range(2)]
  _wait_for_step(procs[0], wd, 6)
  procs[1].send_signal(signal.SIGTERM)
  errs = [p.communicate(timeout=180)[1] for p in procs]
  lines = [_tail(e) for e in errs]
  stopped_at, saved = suite.logged_step(wd), max(suite.checkpoints(wd), default=0)
  ok = (all(p.returncode == 0 for p in procs) and lines[0] == lines[1]
        and "checkpoint saved" in lines[0] and saved >= stopped_at)
  before, rows = suite.snapshot(wd), suite.rows(wd)
  code, err = suite.run(wd)  # resumed by 1 process with 8 devices
  # Cross-process (gloo) and in-process all-reduces may add in different orders: round-off.
  rel = suite.difference_to_reference(wd) if code == 0 else float("inf")
  return Row("SIGTERM to 1 of 2 processes, resume in 1", "SIGTERM to process 1 after step 6",
             ok and rel < 1e-5, max(stopped_at - saved, 0),
             suite.lost(wd, before, rows, saved, allow_config_change=True),
             f"both exit {procs[0].returncode}/{procs[1].returncode} at the same step: "
             f"{lines[0] == lines[1]} ('{lines[0]}'); finished by 1 process x 8 devices, max "
             f"relative difference to the reference {rel:.1e}")


def _partial_run(suite: Suite, name: str, steps: int) -> str:
  """A workdir as a run stopped at `steps` leaves it: the reference's, cut back (its
  checkpoints of later steps, their digests and metrics rows removed)."""
  src, wd = os.path.join(suite.root, "reference"), os.path.join(suite.root, name)
  shutil.copytree(src, wd)
  for s in Suite.checkpoints(wd):
    if s > steps:
      shutil.rmtree(os.path.join(wd, "checkpoints", str(s)))
      os.remove(os.path.join(wd, "checkpoint_digests", f"{s}.json"))
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    rows = [l for l in f if json.loads(l)["step"] <= steps]
  with open(os.path.join(wd, "metrics.jsonl"), "w") as f:
    f.writelines(rows)
  return wd


def corrupt_checkpoint(suite: Suite, how: str) -> Row:
  wd = _partial_run(suite, f"corrupt_{how}", 12)
  files = glob.glob(os.path.join(wd, "checkpoints", "12", "**", "d", "*"), recursive=True)
  target = max(files, key=os.path.getsize)
  if how == "bitflip":
    data = bytearray(open(target, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(target, "wb").write(bytes(data))
  else:
    os.truncate(target, os.path.getsize(target) // 3)
  before, rows = suite.snapshot(wd), suite.rows(wd)
  code, err = suite.run(wd)
  same = code == 0 and suite.same_as_reference(wd)
  warned = "checkpoint of step 12 is corrupt" in err and "falling back to step 8" in err
  return Row(f"corrupt latest checkpoint ({how})",
             "one bit flipped in step 12's largest file" if how == "bitflip"
             else "step 12's largest file cut to a third",
             same and warned, 12 - 8, suite.lost(wd, before, rows, 8),
             f"warned and fell back to step 8: {warned}; final params bit-identical: {same}")


def _disk_usage(path: str) -> int:
  """Bytes `path` occupies on disk (allocated blocks, as tmpfs counts them), recursively."""
  if os.path.isfile(path):
    return os.stat(path).st_blocks * 512
  return sum(os.stat(os.path.join(d, f)).st_blocks * 512
             for d, _, files in os.walk(path) for f in files)


def disk_full(suite: Suite) -> Row:
  # The disk is sized from the reference run (the same bytes are written): all its logs,
  # steps 4 and 8, and half of step 12, so the save of step 12 (or, with more overhead on
  # tmpfs, of step 8) runs out of space. A fixed size was not: orbax's file sizes vary
  # between releases and machines, and a 1 MiB disk once held the whole run.
  ref = os.path.join(suite.root, "reference")
  logs = sum(_disk_usage(os.path.join(ref, n)) for n in os.listdir(ref) if n != "checkpoints")
  ckpt = {s: _disk_usage(os.path.join(ref, "checkpoints", str(s))) for s in (4, 8, 12)}
  size = -(-(logs + ckpt[4] + ckpt[8] + ckpt[12] // 2) // 4096) * 4096
  disk = os.path.join(suite.root, "disk")
  os.makedirs(disk, exist_ok=True)
  if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", disk],
                    capture_output=True).returncode:
    return Row("disk full while saving", "not run: mounting a tmpfs needs root", False,
               note="tests/test_reliability.py covers it in-process")
  try:
    wd = os.path.join(disk, "run")
    # With keep_checkpoints=2 the failed save must not have rotated out an older step.
    code, err = suite.run(wd, STEPS, "--config.keep_checkpoints=2")
    saved = suite.checkpoints(wd)
    ok = (code == 1 and "disk full" in err and saved and saved[-1] < STEPS
          and len(saved) == min(2, saved[-1] // CKPT_EVERY))  # nothing rotated out early
    steps_lost = suite.logged_step(wd) - (saved[-1] if saved else 0)
    before, rows = suite.snapshot(wd), suite.rows(wd)
    subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
    code2, err2 = suite.run(wd, STEPS, "--config.keep_checkpoints=2")
    same = code2 == 0 and suite.same_as_reference(wd)
    return Row("disk full while saving",
               f"workdir on a {size / 1024:.0f} KiB tmpfs (logs + 2.5 checkpoints), then 64 MiB",
               bool(ok and same), steps_lost,
               suite.lost(wd, before, rows, saved[-1] if saved else 0, keep=2),
               f"exit {code}: '{_tail(err)}'; kept steps {saved}; resumed bit-identical: {same}")
  finally:
    subprocess.run(["umount", disk], capture_output=True)


def nonfinite(suite: Suite, policy: str) -> Row:
  wd = _partial_run(suite, f"nan_{policy}", 8)
  before, rows = suite.snapshot(wd), suite.rows(wd)
  code, err = suite.run(wd, STEPS, "--config.optimizer_d.lr=1e30", f"--config.nonfinite={policy}",
                        "--config.nonfinite_max_skips=6", "--allow-config-change", "optimizer_d.lr")
  if policy == "stop":
    ok = code == 1 and "non-finite" in err and suite.checkpoints(wd) == [4, 8]
  else:  # steps 9-14 skipped: step 12's checkpoint holds step 8's networks, then it stops
    import numpy as np
    same = all(np.array_equal(a, b) for a, b in zip(suite.params(wd, 12)[2:],
                                                      suite.params(wd, 8)[2:]))
    ok = code == 1 and "6 consecutive steps" in err and suite.checkpoints(wd) == [4, 8, 12] and same
  return Row(f"NaN/Inf (nonfinite={policy})", "D learning rate 1e30 from step 9",
             ok, 0, suite.lost(wd, before, rows, 8, allow_config_change=True),
             f"exit {code}: '{_tail(err)}'")


def refused_config(suite: Suite) -> Row:
  wd = _partial_run(suite, "config_change", 4)
  before, rows = suite.snapshot(wd), suite.rows(wd)
  code, err = suite.run(wd, STEPS, "--config.model.g_width=8")
  ok = code == 2 and "different config" in err and suite.snapshot(wd) == before
  return Row("resume with another model", "--config.model.g_width=8 on a width-4 run", ok, 0,
             suite.lost(wd, before, rows, 4), f"exit {code}: '{_tail(err)}'")


def device_count(suite: Suite) -> Row:
  wd = _partial_run(suite, "devices", 12)
  before, rows = suite.snapshot(wd), suite.rows(wd)
  env = dict(suite.env, XLA_FLAGS="--xla_force_host_platform_device_count=2")
  code, err = suite.run(wd, env=env)
  rel = suite.difference_to_reference(wd) if code == 0 else float("inf")
  ok = code == 0 and "device_count 8 -> 2" in err and rel < 1e-5
  return Row("resume on 2 devices (was 8)", "XLA device count changed between runs", ok, 0,
             suite.lost(wd, before, rows, 12),
             f"'{_tail([l for l in err.splitlines() if 'hardware' in l][0] if ok else err)}'; "
             f"max per-tensor relative difference to the 8-device run {rel:.1e}")


def bad_images(suite: Suite) -> Row:
  from PIL import Image
  import numpy as np
  folder = os.path.join(suite.root, "images")
  os.makedirs(folder)
  rng = np.random.default_rng(0)
  for i in range(16):
    Image.fromarray(rng.integers(0, 255, (24, 20, 3), np.uint8)).save(f"{folder}/ok{i}.png")
  Image.fromarray(rng.integers(0, 255, (24, 20), np.uint8)).save(f"{folder}/grey.jpg")
  Image.fromarray(rng.integers(0, 255, (9, 30, 4), np.uint8), "RGBA").save(f"{folder}/rgba.png")
  Image.fromarray(rng.integers(0, 65535, (20, 20), np.uint16)).save(f"{folder}/deep.png")
  Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(f"{folder}/cut.jpg")
  os.truncate(f"{folder}/cut.jpg", 200)
  open(f"{folder}/text.png", "w").write("not an image")
  open(f"{folder}/empty.jpg", "wb").close()
  data_before = {p: _sha(p) for p in glob.glob(f"{folder}/*")}
  wd = os.path.join(suite.root, "bad_images")
  code, err = suite.run(wd, 8, f"--config.dataset={folder}", "--config.channels=3")
  skipped = "skipping 3 of 22 files" in err
  code2, err2 = suite.run(os.path.join(suite.root, "bad_images_strict"), 8,
                          f"--config.dataset={folder}", "--config.bad_images=error")
  os.makedirs(os.path.join(suite.root, "empty"))
  code3, err3 = suite.run(os.path.join(suite.root, "empty_run"), 8,
                          f"--config.dataset={os.path.join(suite.root, 'empty')}")
  lost = sum(1 for p, h in data_before.items() if not os.path.isfile(p) or _sha(p) != h)
  ok = (code == 0 and skipped and code2 == 2 and "do not decode" in err2 and code3 == 2
        and "holds no" in err3 and not os.path.exists(os.path.join(suite.root, "empty_run")))
  return Row("bad image files", "3 corrupt/truncated/non-image of 22 (+grey, RGBA, 16-bit); "
             "an empty folder", ok, 0, lost,
             f"skip: exit {code}, '{_tail(err)}'; error policy: exit {code2}; "
             f"empty folder: exit {code3}, '{_tail(err3)}'")


SCENARIOS = {
    "sigkill": sigkill,
    "sigterm": lambda s: stop_signal(s, signal.SIGTERM),
    "sigint": lambda s: stop_signal(s, signal.SIGINT),
    "sigterm_2proc": sigterm_two_processes,
    "bitflip": lambda s: corrupt_checkpoint(s, "bitflip"),
    "truncated": lambda s: corrupt_checkpoint(s, "truncate"),
    "disk_full": disk_full,
    "nan_stop": lambda s: nonfinite(s, "stop"),
    "nan_skip": lambda s: nonfinite(s, "skip"),
    "config_change": refused_config,
    "device_count": device_count,
    "bad_images": bad_images,
}


def markdown(rows: list[Row]) -> str:
  out = ["| scenario | injected | survived | steps lost | data lost | what happened |",
         "|---|---|---|---|---|---|"]
  for r in rows:
    note = r.note.replace("|", "/")
    out.append(f"| {r.scenario} | {r.injected} | {'yes' if r.survived else 'NO'} | "
               f"{r.steps_lost} | {r.data_lost} | {note} |")
  return "\n".join(out)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--only", default="", help="comma-separated scenario names")
  parser.add_argument("--markdown", default="")
  parser.add_argument("--json", default="")
  parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
  args = parser.parse_args(argv)
  names = [n for n in args.only.split(",") if n] or list(SCENARIOS)
  unknown = sorted(set(names) - set(SCENARIOS))
  if unknown:
    parser.error(f"unknown scenarios {unknown}; valid: {', '.join(SCENARIOS)}")
  root = tempfile.mkdtemp(prefix="jaxgan-faults-")
  suite, rows = Suite(root), []
  t0 = time.time()
  try:
    rows.append(reference(suite))
    if suite.reference_params is None:
      print(markdown(rows))
      return 1
    for name in names:
      t, suite.lost_items = time.time(), []
      try:
        rows.append(SCENARIOS[name](suite))
      except Exception as e:  # a broken scenario is a failed row, not a crashed suite
        rows.append(Row(name, "?", False, note=f"{type(e).__name__}: {e}"))
      if suite.lost_items:  # say what, so a CI log alone explains the failure
        rows[-1].note += f"; LOST: {', '.join(suite.lost_items[:6])}"
      print(f"[{time.time() - t:5.1f} s] {markdown(rows[-1:]).splitlines()[-1]}", file=sys.stderr)
  finally:
    if not args.keep:
      shutil.rmtree(root, ignore_errors=True)
  table = markdown(rows)
  print(table)
  print(f"\n{len(rows)} rows in {time.time() - t0:.0f} s")
  if args.markdown:
    open(args.markdown, "w").write(table + "\n")
  if args.json:
    json.dump([asdict(r) for r in rows], open(args.json, "w"), indent=1)
  return 0 if all(r.survived and r.data_lost == 0 for r in rows) else 1


if __name__ == "__main__":
  sys.exit(main())
