"""Unpaired (CycleGAN) data: two domains from TFDS slices or folders, independent streams,
per-domain jitter, resume, slicing, fixed previews, refusals."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import pipeline, unpaired
from jaxgan.errors import UsageError
from helpers import tiny_config


def _unpaired_config(data_dir, **overrides):
  """edges2digits as two domains: edge maps of records [0, 800), digits of [800, 1600)."""
  c = tiny_config(data_dir, task="unpaired", dataset="edges2digits", image_size=32, channels=1,
                  split_a="train[:800]", key_a="input", split_b="train[800:1600]",
                  key_b="image", load_size=32, flip=False)
  for k, v in overrides.items():
    c[k] = v
  return c


def _take(config, n=2, **kw):
  it = pipeline.numpy_batches(pipeline.make_dataset(config, **kw))
  return [next(it) for _ in range(n)]


def _to_unit(value):
  """uint8 -> the pipeline's [-1, 1]."""
  return np.float32(value) / 127.5 - 1.0


def _raw_edges2digits(tfds_dir, n):
  builder = tfds.builder("edges2digits", data_dir=tfds_dir)
  builder.download_and_prepare()
  ds = builder.as_dataset(split="train", shuffle_files=False).take(n)
  return list(tfds.as_numpy(ds))


def _nearest(images, candidates):
  """Index of the closest candidate of each image, and its max abs distance."""
  d = np.abs(images[:, None] - candidates[None]).reshape(len(images), len(candidates), -1).max(-1)
  return d.argmin(1), d.min(1)


def test_edges2digits_domains_are_disjoint_slices_of_two_features(tfds_dir):
  c = _unpaired_config(tfds_dir)
  raw = _raw_edges2digits(tfds_dir, 1600)
  edges = np.stack([_to_unit(r["input"]) for r in raw])   # (1600, 32, 32, 1)
  digits = np.stack([_to_unit(r["image"]) for r in raw])
  a, b = unpaired.unpaired_examples(c, 4)  # record order, no jitter
  assert a.shape == b.shape == (4, 32, 32, 1) and a.dtype == b.dtype == np.float32
  # atol: grey -> RGB -> grey scales by 0.9999 (rgb_to_grayscale's weights)
  np.testing.assert_allclose(a, edges[:4], atol=5e-4)
  np.testing.assert_allclose(b, digits[800:804], atol=5e-4)
  assert unpaired.domain_sizes(c) == (800, 800)
  batches = _take(c, 3)  # no crop, no flip: every image is a whole record
  for batch in batches:
    assert set(batch) == {"input", "image", "label"}
    assert batch["label"].dtype == np.int32
    np.testing.assert_array_equal(batch["label"], np.zeros(8, np.int32))
  inputs = np.concatenate([x["input"] for x in batches])
  images = np.concatenate([x["image"] for x in batches])
  i, dist = _nearest(inputs, edges)
  assert (dist < 1e-3).all() and (i < 800).all()            # A: edge maps of [0, 800)
  j, dist = _nearest(images, digits)
  assert (dist < 1e-3).all() and ((j >= 800) & (j < 1600)).all()  # B: digits of [800, 1600)
  assert len(set(i)) == len(i) and len(set(j)) == len(j)    # shuffled, no repeats in an epoch
  assert sorted(i) != list(range(len(i)))


# Distinct colours: three images in domain A, five in domain B.
_A = [(250, 10, 10), (200, 40, 40), (150, 70, 70)]
_B = [(10, 10, 250), (30, 30, 220), (50, 50, 190), (70, 70, 160), (90, 90, 130)]


def _colour_folder(path, colours, size=(8, 10)):
  path.mkdir()
  for i, colour in enumerate(colours):
    Image.fromarray(np.full(size + (3,), colour, np.uint8)).save(path / f"{i}.png")
  return str(path)


def _folders_config(tmp_path, **overrides):
  c = tiny_config("", task="unpaired", dataset="digits", channels=3, image_size=8,
                  folder_a=_colour_folder(tmp_path / "a", _A),
                  folder_b=_colour_folder(tmp_path / "b", _B, size=(12, 8)), batch_size=5)
  for k, v in overrides.items():
    c[k] = v
  return c


def _colour_index(images, colours):
  """Which colour each (solid) image is; -1 if none."""
  expected = np.array([_to_unit(c) for c in colours])            # (k, 3)
  d = np.abs(images.reshape(len(images), -1, 3)[:, :, None] - expected[None, None]).max((1, 3))
  return np.where(d.min(1) < 1e-3, d.argmin(1), -1)


def test_folders_are_the_domains_and_epochs_do_not_align(tmp_path):
  c = _folders_config(tmp_path)
  a, b = unpaired.unpaired_examples(c, 5)  # file order; A (3 images) cycled
  np.testing.assert_array_equal(_colour_index(a, _A), [0, 1, 2, 0, 1])
  np.testing.assert_array_equal(_colour_index(b, _B), [0, 1, 2, 3, 4])
  assert unpaired.domain_sizes(c) == (3, 5)
  batches = _take(c, 6)                   # 30 images of each domain
  seq_a = np.concatenate([_colour_index(x["input"], _A) for x in batches])
  seq_b = np.concatenate([_colour_index(x["image"], _B) for x in batches])
  assert (seq_a >= 0).all() and (seq_b >= 0).all()
  # Each domain repeats on its own: every epoch of A is 3 images, every epoch of B 5.
  for e in range(10):
    assert sorted(seq_a[3 * e:3 * e + 3]) == [0, 1, 2]
  for e in range(6):
    assert sorted(seq_b[5 * e:5 * e + 5]) == [0, 1, 2, 3, 4]
  assert len({tuple(seq_a[3 * e:3 * e + 3]) for e in range(10)}) > 1  # reshuffled each epoch
  c.input_channels = 1
  grey = _take(c, 1)[0]
  assert grey["input"].shape == (5, 8, 8, 1) and grey["image"].shape == (5, 8, 8, 3)


def test_domain_a_does_not_depend_on_domain_b(tfds_dir):
  c = _unpaired_config(tfds_dir, load_size=36, flip=True)
  full = _take(c, 3)
  small_b = _take(_unpaired_config(tfds_dir, load_size=36, flip=True,
                                   split_b="train[800:900]"), 3)
  small_a = _take(_unpaired_config(tfds_dir, load_size=36, flip=True, split_a="train[:400]"), 3)
  for f, sb, sa in zip(full, small_b, small_a):
    np.testing.assert_array_equal(f["input"], sb["input"])   # A: same order, same jitter
    np.testing.assert_array_equal(f["image"], sa["image"])   # B likewise
  assert not all(np.array_equal(f["image"], sb["image"]) for f, sb in zip(full, small_b))
  assert not all(np.array_equal(f["input"], sa["input"]) for f, sa in zip(full, small_a))


def test_one_source_as_both_domains_gives_two_different_streams(tfds_dir):
  c = _unpaired_config(tfds_dir, split_b="train[:800]", key_b="input")
  a, b = unpaired.unpaired_examples(c, 3)
  np.testing.assert_array_equal(a, b)        # same records...
  batch = _take(c, 1)[0]
  assert not np.array_equal(batch["input"], batch["image"])  # ...each domain its own order


def test_stream_is_deterministic_and_resumable(tfds_dir):
  c = _unpaired_config(tfds_dir, load_size=36, flip=True)
  full = _take(c, 5)
  again = _take(c, 5)
  resumed = _take(c, 2, start_step=3)
  for x, y in zip(full, again):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(x[key], y[key])
  for r, f in zip(resumed, full[3:]):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(r[key], f[key])
  assert not np.array_equal(full[0]["image"], full[1]["image"])
  other_seed = _take(_unpaired_config(tfds_dir, load_size=36, flip=True, seed=1), 1)[0]
  assert not np.array_equal(other_seed["input"], full[0]["input"])
  assert not np.array_equal(other_seed["image"], full[0]["image"])


def test_processes_assemble_the_single_process_batch(tfds_dir):
  c = _unpaired_config(tfds_dir, load_size=36, flip=True)
  whole = _take(c, 3, start_step=1)
  parts = [_take(c, 3, start_step=1, process_index=p, process_count=2) for p in range(2)]
  assert parts[0][0]["input"].shape == parts[0][0]["image"].shape == (4, 32, 32, 1)
  for step in range(3):
    for key in ("input", "image", "label"):
      np.testing.assert_array_equal(np.concatenate([p[step][key] for p in parts]), whole[step][key])


def _ramp_folder(path):
  """One 24x24 ramp, 10*x + y: every difference between two draws is the jitter's."""
  path.mkdir()
  y, x = np.mgrid[:24, :24]
  Image.fromarray((10 * x + y).astype(np.uint8)).save(path / "ramp.png")
  return str(path)


@pytest.mark.parametrize("flip", [True, False])
def test_jitter_is_per_domain_and_deterministic(tmp_path, flip):
  ramp = _ramp_folder(tmp_path / "ramp")  # the same single image in both domains
  c = tiny_config("", task="unpaired", folder_a=ramp, folder_b=ramp, channels=1, image_size=16,
                  load_size=24, flip=flip)
  batches = _take(c, 4)
  again = _take(c, 4)
  for x, y in zip(batches, again):
    np.testing.assert_array_equal(x["input"], y["input"])
    np.testing.assert_array_equal(x["image"], y["image"])
  views = {}
  for key in ("input", "image"):
    images = np.concatenate([b[key][..., 0] for b in batches])       # (32, 16, 16)
    slope = np.sign(images[:, 0, 1] - images[:, 0, 0])               # +1 unflipped, -1 flipped
    if flip:
      assert (slope > 0).any() and (slope < 0).any()
    else:
      assert (slope > 0).all()
    corner = np.where(slope > 0, images[:, 0, 0], images[:, 0, -1])  # ramp at the crop's corner
    assert len(np.unique(np.round(corner, 4))) > 4                    # the crop moves
    views[key] = images
  same = [np.array_equal(x, y) for x, y in zip(views["input"], views["image"])]
  assert sum(same) < 8  # not the same crop and flip in both domains


def test_unpaired_examples_are_stable(tfds_dir):
  c = _unpaired_config(tfds_dir, load_size=40, flip=True)
  a, b = unpaired.unpaired_examples(c, 6)
  again = unpaired.unpaired_examples(_unpaired_config(tfds_dir, seed=7), 6)
  np.testing.assert_array_equal(a, again[0])
  np.testing.assert_array_equal(b, again[1])
  raw = _raw_edges2digits(tfds_dir, 806)
  np.testing.assert_allclose(a, [_to_unit(r["input"]) for r in raw[:6]], atol=5e-4)
  np.testing.assert_allclose(b, [_to_unit(r["image"]) for r in raw[800:806]], atol=5e-4)


@pytest.mark.parametrize("overrides,match", [
    (dict(split_a=None), r"needs domain A's images: set --config.split_a .* or --config.folder_a"),
    (dict(split_b=""), r"needs domain B's images: set --config.split_b .* or --config.folder_b"),
    (dict(key_a="edges"), r"has no feature 'edges' \(has: .*\); set --config.key_a"),
    (dict(key_b="label"), r"feature 'label' .* is not an image .*; set --config.key_b"),
    (dict(split_a="trainA"), r"cannot read split 'trainA' .* domain A .*set --config.split_a"),
    (dict(split_b="train[5:5]"), r"cannot read split 'train\[5:5\]' .* domain B .*no data"),
    (dict(load_size=16), r"load_size=16 is smaller than image_size=32"),
    (dict(channels=2), r"channels=2 is not supported for unpaired data; valid: 1, 3"),
    (dict(input_channels=4), r"input_channels=4 is not supported for unpaired data"),
    (dict(folder_b="/nonexistent/zebras"), r"image folder '/nonexistent/zebras' does not exist"),
])
def test_bad_config(tfds_dir, overrides, match):
  c = _unpaired_config(tfds_dir, **overrides)
  with pytest.raises(UsageError, match=match):
    pipeline.make_dataset(c)
  with pytest.raises(UsageError, match=match):
    unpaired.unpaired_examples(c, 2)


def test_folder_dataset_without_domain_folders_is_a_usage_error(tmp_path):
  c = tiny_config("", task="unpaired", dataset=_colour_folder(tmp_path / "x", _A),
                  folder_b=_colour_folder(tmp_path / "y", _B))
  with pytest.raises(UsageError, match=r"domain A's images: dataset '.*x' is a folder; "
                                       r"set --config.folder_a"):
    pipeline.make_dataset(c)
