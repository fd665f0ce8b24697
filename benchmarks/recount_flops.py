"""Recompute flops_per_step, achieved FLOP/s and MFU of benchmark records with `model_flops`.

  python -m benchmarks.recount_flops RESULTS.json [...]

The FLOP count is a property of the step's arithmetic, not of the device, so records
measured elsewhere (e.g. on a GPU whose cost analysis missed cuDNN convolutions) can be
recounted here. Rewrites each file in place, noting the recount in each record.
"""

import json
import os
import sys

from benchmarks import peaks, run


class _Kind:
  def __init__(self, kind):
    self.device_kind = kind


def recount(path: str) -> None:
  from jaxgan import config as config_lib
  with open(path) as f:
    records = json.load(f)
  cache = {}
  for r in records:
    key = (r["model"], r["batch_size"], r["precision"])
    if key not in cache:
      spec = run.MODELS[r["model"]]
      c = config_lib.load_config_file(os.path.join(run.REPO, "experiments", spec.config))
      for k, v in spec.overrides.items():
        c[k] = v
      c.batch_size = r["batch_size"]
      c.compute_dtype = {"f32": "float32", "bf16": "bfloat16"}[r["precision"]]
      cache[key] = run.model_flops(c)
    flops = cache[key]
    r["flops_per_step"] = flops
    r["achieved_flops_per_s"] = flops * r["steps_per_s"] if flops else None
    r["peak_flops_per_s"] = peaks.peak_flops(_Kind(r["device"]), r["precision"])
    r["mfu"] = (r["achieved_flops_per_s"] / r["peak_flops_per_s"]
                if r["achieved_flops_per_s"] and r["peak_flops_per_s"] else None)
    r["note"] = (r.get("note", "") + " flops recounted with benchmarks.recount_flops").strip()
  with open(path + ".tmp", "w") as f:
    json.dump(records, f, indent=1)
  os.replace(path + ".tmp", path)
  print(run.table([run.Record(**r) for r in records]))


if __name__ == "__main__":
  for p in sys.argv[1:]:
    recount(p)
