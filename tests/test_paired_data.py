"""Paired (pix2pix) data: side-by-side folders, TFDS pairs, shared jitter, resume, slicing."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import embedded, paired, pipeline
from jaxgan.errors import UsageError
from helpers import tiny_config


def _paired_config(data_dir, **overrides):
  c = tiny_config(data_dir, task="paired", dataset="edges2digits", image_size=32)
  for k, v in overrides.items():
    c[k] = v
  return c


def _take(config, n=2, **kw):
  it = pipeline.numpy_batches(pipeline.make_dataset(config, **kw))
  return [next(it) for _ in range(n)]


def _to_unit(value):
  """uint8 -> the pipeline's [-1, 1]."""
  return np.float32(value) / 127.5 - 1.0


# Left (A) and right (B) colours of three side-by-side files, all different.
_LEFT = [(10, 20, 30), (40, 50, 60), (70, 80, 90)]
_RIGHT = [(200, 210, 220), (170, 180, 190), (140, 150, 160)]


def _side_by_side_folder(path):
  for i, (left, right) in enumerate(zip(_LEFT, _RIGHT)):
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, :8], image[:, 8:] = left, right
    Image.fromarray(image).save(path / f"{i}.png")
  return str(path)


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_side_by_side_folder_split(tmp_path, direction):
  c = tiny_config("", task="paired", dataset=_side_by_side_folder(tmp_path), channels=3,
                  image_size=8, batch_size=6, direction=direction)
  first, second = (_LEFT, _RIGHT) if direction == "AtoB" else (_RIGHT, _LEFT)
  inputs, targets = paired.paired_examples(c, 3)  # file order
  for i in range(3):
    np.testing.assert_allclose(inputs[i], np.full((8, 8, 3), _to_unit(first[i])), atol=1e-5)
    np.testing.assert_allclose(targets[i], np.full((8, 8, 3), _to_unit(second[i])), atol=1e-5)
  # The training stream (shuffled, flipped) keeps every input with its own target.
  batch = _take(c, 1)[0]
  assert batch["input"].shape == batch["image"].shape == (6, 8, 8, 3)
  np.testing.assert_array_equal(batch["label"], np.zeros(6, np.int32))
  expected = {tuple(np.round(_to_unit(a), 4)): tuple(np.round(_to_unit(b), 4))
              for a, b in zip(first, second)}
  for x, y in zip(batch["input"], batch["image"]):
    assert tuple(np.round(x[0, 0], 4)) in expected
    assert expected[tuple(np.round(x[0, 0], 4))] == tuple(np.round(y[0, 0], 4))


def test_input_channels_differ_from_channels(tmp_path):
  c = tiny_config("", task="paired", dataset=_side_by_side_folder(tmp_path), channels=3,
                  input_channels=1, image_size=8)
  inputs, targets = paired.paired_examples(c, 3)
  assert inputs.shape == (3, 8, 8, 1) and targets.shape == (3, 8, 8, 3)
  grey = [0.2989 * r + 0.5870 * g + 0.1140 * b for r, g, b in _LEFT]  # tf.image.rgb_to_grayscale
  np.testing.assert_allclose(inputs[:, 0, 0, 0], [_to_unit(v) for v in grey], atol=1e-3)


def _ramp_folder(path, n=4):
  """Side-by-side files whose two 24x24 halves are the same ramp, 10*x + y + 3*i."""
  y, x = np.mgrid[:24, :24]
  for i in range(n):
    half = (10 * x + y + 3 * i).astype(np.uint8)
    Image.fromarray(np.concatenate([half, half], 1)).save(path / f"{i}.png")
  return str(path)


@pytest.mark.parametrize("flip", [True, False])
def test_folder_jitter_is_shared_by_input_and_target(tmp_path, flip):
  """Equal halves stay equal through crop and flip; crops move, flips happen iff flip."""
  c = tiny_config("", task="paired", dataset=_ramp_folder(tmp_path), channels=1, image_size=16,
                  load_size=24, flip=flip)
  batches = _take(c, 4)
  for b in batches:
    np.testing.assert_array_equal(b["input"], b["image"])
  images = np.concatenate([b["image"][..., 0] for b in batches])   # (32, 16, 16)
  slope = np.sign(images[:, 0, 1] - images[:, 0, 0])               # +1 unflipped, -1 flipped
  if flip:
    assert (slope > 0).any() and (slope < 0).any()
  else:
    assert (slope > 0).all()
  corner = np.where(slope > 0, images[:, 0, 0], images[:, 0, -1])  # ramp at the crop's corner
  assert len(np.unique(np.round(corner, 4))) > 4                    # the crop moves


def test_load_size_equal_image_size_means_no_crop(tmp_path):
  c = tiny_config("", task="paired", dataset=_ramp_folder(tmp_path), channels=1, image_size=16,
                  flip=False, batch_size=4)
  inputs, targets = paired.paired_examples(c, 4)
  batch = _take(c, 1)[0]
  for x in batch["input"]:  # every training input is one of the unjittered examples
    assert min(np.abs(x - e).max() for e in inputs) < 1e-6


def test_tfds_jitter_is_shared_by_input_and_target(tfds_dir):
  c = _paired_config(tfds_dir, input_key="image", load_size=40)  # input and target: one feature
  batches = _take(c, 3)
  for b in batches:
    np.testing.assert_array_equal(b["input"], b["image"])
  inputs, _ = paired.paired_examples(c, 8)
  assert not any(np.allclose(b["image"][0], e, atol=1e-3) for b in batches for e in inputs)


def test_stream_is_deterministic_and_resumable(tfds_dir):
  c = _paired_config(tfds_dir, load_size=36)
  full = _take(c, 5)
  again = _take(c, 5)
  resumed = _take(c, 2, start_step=3)
  for a, b in zip(full, again):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(a[key], b[key])
  for r, f in zip(resumed, full[3:]):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(r[key], f[key])
  assert not np.array_equal(full[0]["image"], full[1]["image"])
  other_seed = _take(_paired_config(tfds_dir, load_size=36, seed=1), 1)[0]
  assert not np.array_equal(other_seed["image"], full[0]["image"])


def test_processes_assemble_the_single_process_batch(tfds_dir):
  c = _paired_config(tfds_dir, load_size=36)
  whole = _take(c, 3, start_step=1)
  parts = [_take(c, 3, start_step=1, process_index=p, process_count=2) for p in range(2)]
  assert parts[0][0]["input"].shape == (4, 32, 32, 1)
  for step in range(3):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(np.concatenate([p[step][key] for p in parts]), whole[step][key])


def _raw_edges2digits(tfds_dir, n):
  builder = tfds.builder("edges2digits", data_dir=tfds_dir)
  builder.download_and_prepare()
  ds = builder.as_dataset(split="train", shuffle_files=False).take(n)
  return list(tfds.as_numpy(ds))


def test_paired_examples_are_the_first_records_unjittered(tfds_dir):
  c = _paired_config(tfds_dir, load_size=40)
  inputs, targets = paired.paired_examples(c, 6)
  again = paired.paired_examples(_paired_config(tfds_dir, load_size=40, seed=7), 6)
  np.testing.assert_array_equal(inputs, again[0])
  np.testing.assert_array_equal(targets, again[1])
  raw = _raw_edges2digits(tfds_dir, 6)
  # atol: grey -> RGB -> grey scales by 0.9999 (rgb_to_grayscale's weights)
  np.testing.assert_allclose(targets, [_to_unit(r["image"]) for r in raw], atol=5e-4)
  np.testing.assert_allclose(inputs, [_to_unit(r["input"]) for r in raw], atol=5e-4)
  swapped = paired.paired_examples(_paired_config(tfds_dir, direction="BtoA"), 6)
  np.testing.assert_array_equal(swapped[0], targets)
  np.testing.assert_array_equal(swapped[1], inputs)


def test_edges2digits_input_is_the_edge_map_of_its_target(tfds_dir):
  from sklearn.datasets import load_digits
  raw = _raw_edges2digits(tfds_dir, 20)
  digits = load_digits()
  upsampled = {embedded.upsample_digit(np.round(d * 255 / 16).astype(np.uint8)).tobytes(): label
               for d, label in zip(digits.images, digits.target)}  # TFDS stores them shuffled
  for r in raw:
    assert r["input"].shape == r["image"].shape == (32, 32, 1)
    assert r["input"].dtype == r["image"].dtype == np.uint8
    assert upsampled[r["image"][..., 0].tobytes()] == r["label"]  # an upsampled digit, its class
    edges = r["input"][..., 0]
    np.testing.assert_array_equal(edges, embedded.digit_edges(r["image"][..., 0]))
    assert set(np.unique(edges)) == {0, 255}
    assert 0.05 < (edges > 0).mean() < 0.5
  ink = np.array([[0, 0, 0, 0, 0], [0, 200, 200, 200, 0], [0, 200, 200, 200, 0],
                  [0, 200, 200, 200, 0], [0, 0, 0, 0, 0]], np.uint8)
  expected = np.full((5, 5), 255, np.uint8)
  expected[2, 2] = 0  # the ink's interior, off the outline
  expected[::4, ::4] = 0  # the corners: diagonal to the ink (4-neighbour cross)
  np.testing.assert_array_equal(embedded.digit_edges(ink), expected)


@pytest.mark.parametrize("overrides,match", [
    (dict(direction="AtoC"), r"unknown direction 'AtoC'; valid: AtoB, BtoA"),
    (dict(channels=2), r"channels=2 is not supported for paired data; valid: 1, 3"),
    (dict(input_channels=4), r"input_channels=4 is not supported"),
    (dict(load_size=16), r"load_size=16 is smaller than image_size=32"),
    (dict(input_key="edges"), r"has no feature 'edges'.*input_key"),
])
def test_bad_config(tfds_dir, overrides, match):
  c = _paired_config(tfds_dir, **overrides)
  with pytest.raises(UsageError, match=match):
    pipeline.make_dataset(c)
  with pytest.raises(UsageError, match=match):
    paired.paired_examples(c, 2)


def test_folder_with_odd_width_is_a_usage_error(tmp_path):
  _side_by_side_folder(tmp_path)
  Image.fromarray(np.zeros((8, 15, 3), np.uint8)).save(tmp_path / "odd.png")
  c = tiny_config("", task="paired", dataset=str(tmp_path), channels=3, image_size=8)
  with pytest.raises(UsageError, match=r"1 of 4 images .* odd width .*odd.png, 15 pixels wide"):
    pipeline.make_dataset(c)


def test_unpaired_task_keeps_the_image_stream(tfds_dir):
  b = _take(tiny_config(tfds_dir), 1)[0]
  assert set(b) == {"image", "label"}
  b = _take(_paired_config(tfds_dir), 1)[0]
  assert set(b) == {"input", "image", "label"}
