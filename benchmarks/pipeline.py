"""Input-pipeline throughput: images/s the tf.data pipeline delivers, beside what the
train step consumes.

  python -m benchmarks.pipeline [--sources digits,jpeg_folder,tfds_mock] [--image-size 64]
                                [--batch-size 128] [--seconds 10] [--train-json RUN.json]
                                [--json OUT]

Sources: the embedded `digits` (PNG records), a folder of 128x128 JPEGs written here
(decode + crop + antialiased resize, the costly path of real photo folders), and
`tfds.testing.mock_data` of cifar10 (TFDS's own mock; random examples made in Python, so
it measures TFDS plumbing, not decoding). --train-json takes a `benchmarks.run` JSON and
prints, per model, how many CPU cores the pipeline needs to keep that step fed.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(dataset: str, image_size: int, channels: int, batch: int, data_dir: str):
  from jaxgan import config as config_lib
  c = config_lib.load_config_file(os.path.join(REPO, "experiments", "dcgan_base.py"))
  c.dataset, c.image_size, c.channels, c.batch_size, c.data_dir = (
      dataset, image_size, channels, batch, data_dir)
  return c


def _jpeg_folder(root: str, n: int = 512) -> str:
  from PIL import Image
  folder = os.path.join(root, "jpegs")
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  base = rng.integers(0, 255, (128, 128, 3), np.uint8)
  for i in range(n):  # photo-like smoothness so JPEG sizes are realistic
    img = np.roll(base, i, axis=1) // 2 + rng.integers(0, 128, (128, 128, 3), np.uint8) // 4
    Image.fromarray(img.astype(np.uint8)).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)
  return folder


def measure(config, seconds: float, warmup_batches: int = 5) -> dict:
  from jaxgan.data import pipeline
  batches = pipeline.numpy_batches(pipeline.make_dataset(config))
  try:
    t0 = time.perf_counter()
    for _ in range(warmup_batches):
      next(batches)
    first_s = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
      n += next(batches)["image"].shape[0]
    rate = n / (time.perf_counter() - t0)
  finally:
    batches.close()
  cores = os.cpu_count()
  return {"images_per_s": rate, "images_per_s_per_core": rate / cores, "cores": cores,
          "warmup_s": first_s}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--sources", default="digits,jpeg_folder,tfds_mock")
  p.add_argument("--image-size", type=int, default=64)
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--seconds", type=float, default=10.0)
  p.add_argument("--train-json", default=None)
  p.add_argument("--json", default=None)
  a = p.parse_args(argv)
  valid = ("digits", "jpeg_folder", "tfds_mock")
  sources = [s for s in a.sources.split(",") if s]
  if any(s not in valid for s in sources):
    sys.exit(f"benchmarks.pipeline: error: unknown sources; valid: {', '.join(valid)}")
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for source in sources:
      if source == "digits":
        c = _config("digits", a.image_size, 1, a.batch_size, os.path.join(root, "tfds"))
        rows.append({"source": "digits (embedded PNG, 1 channel)", **measure(c, a.seconds)})
      elif source == "jpeg_folder":
        c = _config(_jpeg_folder(root), a.image_size, 3, a.batch_size, "")
        rows.append({"source": "folder of 128x128 JPEGs", **measure(c, a.seconds)})
      else:
        from jaxgan.data import pipeline
        c = _config("cifar10", 32, 3, a.batch_size, "")
        with pipeline.mock_tfds(num_examples=2048):
          rows.append({"source": "tfds mock_data cifar10 (32x32)", **measure(c, a.seconds)})
  consumers = []
  if a.train_json:
    with open(a.train_json) as f:
      consumers = [r for r in json.load(f) if r["impl"] == "jaxgan"]
  print(f"| source | images/s | per core ({rows[0]['cores'] if rows else '?'} cores) | "
        "warm-up s |\n|---|---|---|---|")
  for r in rows:
    print(f"| {r['source']} | {r['images_per_s']:.0f} | {r['images_per_s_per_core']:.0f} | "
          f"{r['warmup_s']:.1f} |")
  for c in consumers:
    for r in rows:
      need = c["images_per_s"] / r["images_per_s_per_core"]
      print(f"# {c['model']} {c['precision']} on {c['device']} consumes {c['images_per_s']:.0f} "
            f"images/s: {need:.1f} cores of '{r['source']}' keep it fed")
  if a.json:
    with open(a.json, "w") as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
