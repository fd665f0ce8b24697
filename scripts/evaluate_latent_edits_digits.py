"""Judges GAN inversion and latent edits of a digits run on digits it did not train on.

  python scripts/evaluate_latent_edits_digits.py --workdir runs/digits
      [--split 'train[1600:]'] [--steps 300] [--restarts 4] [--prior-weight 0.1]
      [--grid edits.png] [--json out.json]

The held-out digits are projected (jaxgan.edit.project). The digits classifier
(jaxgan.metrics.digits: logistic regression on the real 8x8 digits) reads every image.
Figures:
  projection  PSNR of the reconstructions (peak-to-peak 2 on [-1, 1]) and how often the
              classifier gives a reconstruction the digit's true class (its rate on the
              real digits themselves beside it);
  nearest     the same for a retrieval baseline: each digit's nearest (MSE) of 10,000
              random samples of the generator.
Unconditional runs (DCGAN): class attribute vectors, mean z of the samples the classifier
puts in class b minus that of class a, move every projected digit of class a towards each
other class b; per strength, `edit_to_target` is how often the classifier then says b,
and `edit_pixels_changed` the mean absolute change of the image on [0, 1]. The grid
shows strength 1.
Class-conditional runs: projection searches every class; `inferred_class` is how often the
winning class is the true one (the GAN as a classifier, by synthesis). `swap_to_target`:
the projected z rendered under each other class b, how often the classifier says b.
"""

import argparse
import json

import numpy as np

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.data import pipeline
from jaxgan.edit import latent_space, project
from jaxgan.edit.latent_files import load_noise_generator
from jaxgan.metrics import digits


def classify(images: np.ndarray) -> np.ndarray:
  """Classes of float (N, H, W, 1) images in [-1, 1]."""
  return digits._classifier().predict(digits.to_digit_features(image_lib.to_uint8(images)))


def nearest_samples(generator, variables, targets, num=10_000, seed=0) -> np.ndarray:
  """For each target, the closest (MSE) of `num` generator samples."""
  space = "z"
  labels = sampling.default_labels(generator, np.arange(num))
  samples = project.decode_all(generator, variables, space,
                               np.asarray(latent_space.sample(generator, variables, space, seed,
                                                              np.arange(num))), labels, 500)
  flat_s = samples.reshape(num, -1).astype(np.float64)
  flat_t = targets.reshape(len(targets), -1).astype(np.float64)
  d = (flat_t ** 2).sum(1)[:, None] - 2 * flat_t @ flat_s.T + (flat_s ** 2).sum(1)[None]
  return samples[d.argmin(axis=1)]


def _figures(images, targets, labels) -> dict:
  return {"psnr_db": float(project.psnr(images, targets).mean()),
          "true_class": float(np.mean(classify(images) == labels))}


def evaluate(workdir: str, split: str, options: project.ProjectOptions,
             grid: str | None = None, strengths=(0.5, 1.0, 1.5, 2.0)) -> dict:
  config, generator, variables, step = load_noise_generator(workdir)
  config.split = split
  n = pipeline._encoded_records(config, autocache=False)[1]
  targets, labels = pipeline.first_images(config, n, with_labels=True)
  conditional = bool(sampling.num_classes(generator))
  out = project.project(generator, variables, targets, options)
  rows = {"run": {"workdir": workdir, "step": step, "model": config.model.name,
                  "held_out": n, "split": split, "steps": options.num_steps,
                  "restarts": options.restarts, "prior_weight": options.prior_weight},
          "real_digits": {"true_class": float(np.mean(classify(targets) == labels))},
          "projection": _figures(out["images"], targets, labels),
          "nearest": _figures(nearest_samples(generator, variables, targets), targets, labels)}
  z = out["latents"]
  others = np.array([[b for b in range(10) if b != a] for a in labels])  # (n, 9)
  rows_z = np.repeat(z, 9, axis=0)
  if conditional:
    rows["inferred_class"] = float(np.mean(out["labels"] == labels))
    edited = project.decode_all(generator, variables, "z", rows_z, others.reshape(-1))
    rows["swap_to_target"] = float(np.mean(classify(edited) == others.reshape(-1)))
  else:
    sample_z = np.asarray(latent_space.sample(generator, variables, "z", 1, np.arange(10_000)))
    sample_classes = classify(project.decode_all(generator, variables, "z", sample_z, None, 500))
    # A class no sample falls into has no mean: its pairs are left out (and counted).
    has = np.array([np.any(sample_classes == k) for k in range(10)])
    means = np.stack([sample_z[sample_classes == k].mean(0) if has[k] else
                      np.zeros(sample_z.shape[1], np.float32) for k in range(10)])
    target, source = others.reshape(-1), np.repeat(labels, 9)
    valid = has[target] & has[source]
    rows["edit_pairs"] = {"evaluated": int(valid.sum()), "left_out": int((~valid).sum())}
    shift = (means[target] - means[source]) * valid[:, None]
    before, edited = np.repeat(out["images"], 9, axis=0), None
    for strength in strengths:
      moved = project.decode_all(generator, variables, "z", rows_z + strength * shift, None, 500)
      hit = classify(moved) == target
      change = np.mean(np.abs(moved - before), axis=(1, 2, 3)) / 2
      rows[f"strength_{strength:g}"] = {
          "edit_to_target": float(hit[valid].mean()) if valid.any() else None,
          "edit_pixels_changed": float(change[valid].mean()) if valid.any() else None}
      if edited is None or strength == 1:  # the grid's: strength 1 if asked for
        edited = moved
  if grid:  # 8 digits: target | reconstruction | edits to each other class
    k = 8
    panel = np.concatenate([targets[:k, None], out["images"][:k, None],
                            edited.reshape(n, 9, *targets.shape[1:])[:k]], axis=1)
    image_lib.save_png(grid, image_lib.make_grid(image_lib.to_uint8(
        panel.reshape(-1, *targets.shape[1:])), ncols=11))
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--split", default="train[1600:]")
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--restarts", type=int, default=4)
  p.add_argument("--prior-weight", type=float, default=0.1)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--strengths", default="0.5,1,1.5,2", help="attribute-vector strengths; "
                 "the grid shows 1 (else the first)")
  p.add_argument("--grid", default=None)
  p.add_argument("--json", default=None)
  a = p.parse_args()
  options = project.ProjectOptions(num_steps=a.steps, restarts=a.restarts,
                                   prior_weight=a.prior_weight, seed=a.seed)
  rows = evaluate(a.workdir, a.split, options, a.grid,
                  strengths=[float(t) for t in a.strengths.split(",")])
  print(json.dumps(rows, indent=2))
  if a.json:
    with open(a.json, "w") as f:
      json.dump(rows, f, indent=2)


if __name__ == "__main__":
  main()
