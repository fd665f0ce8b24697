"""The tf.data pipeline on embedded data, image folders and TFDS mock data."""


import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import pipeline
from jaxgan.errors import UsageError
from helpers import tiny_config


def _take(config, n=2, **kw):
  it = pipeline.numpy_batches(pipeline.make_dataset(config, **kw))
  return [next(it) for _ in range(n)]


def test_digits_batches(tfds_dir):
  c = tiny_config(tfds_dir, image_size=32)
  b = _take(c)[0]
  assert b["image"].shape == (8, 32, 32, 1) and b["image"].dtype == np.float32
  assert b["image"].min() >= -1.0 and b["image"].max() <= 1.0
  assert b["image"].min() == -1.0 and b["image"].max() > 0.9  # digits: black paper, white ink
  assert b["label"].shape == (8,) and set(b["label"]) <= set(range(10))


def test_stream_is_deterministic_and_resumable(tfds_dir):
  c = tiny_config(tfds_dir)
  full = _take(c, 5)
  again = _take(c, 5)
  resumed = _take(c, 2, start_step=3)
  for a, b in zip(full, again):
    np.testing.assert_array_equal(a["image"], b["image"])
  np.testing.assert_array_equal(resumed[0]["image"], full[3]["image"])
  np.testing.assert_array_equal(resumed[1]["label"], full[4]["label"])
  assert not np.array_equal(full[0]["image"], full[1]["image"])


@pytest.mark.parametrize("process_count", [2, 4])
def test_processes_assemble_the_single_process_batch(tfds_dir, process_count):
  """Per-process slices, concatenated, are the 1-process global batch, at every step."""
  c = tiny_config(tfds_dir)
  whole = _take(c, 3, start_step=1)
  parts = [_take(c, 3, start_step=1, process_index=p, process_count=process_count)
           for p in range(process_count)]
  assert parts[0][0]["image"].shape[0] == 8 // process_count
  for step in range(3):
    for key in ("image", "label"):
      np.testing.assert_array_equal(np.concatenate([p[step][key] for p in parts]), whole[step][key])


def test_faces_and_photos(tfds_dir):
  faces = _take(tiny_config(tfds_dir, dataset="lfw_faces", image_size=32), 1)[0]
  assert faces["image"].shape == (8, 32, 32, 1)
  photos = _take(tiny_config(tfds_dir, dataset="packaged_photos", channels=3, image_size=64,
                             batch_size=4), 1)[0]
  assert photos["image"].shape == (4, 64, 64, 3)
  assert photos["image"].std() > 0.1


def test_image_folder_mixed_formats(tmp_path):
  rng = np.random.default_rng(0)
  (tmp_path / "sub" / "deeper").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)).save(tmp_path / "a.png")
  Image.fromarray(rng.integers(0, 255, (30, 20), np.uint8)).save(tmp_path / "sub" / "b.jpg")
  Image.fromarray(rng.integers(0, 255, (16, 16, 4), np.uint8), "RGBA").save(
      tmp_path / "sub" / "deeper" / "c.PNG")
  (tmp_path / "notes.txt").write_text("not an image")
  assert len(pipeline.list_image_files(str(tmp_path))) == 3
  c = tiny_config("", dataset=str(tmp_path), channels=3, batch_size=3)
  b = _take(c, 1)[0]
  assert b["image"].shape == (3, 16, 16, 3)
  assert np.all(np.abs(b["image"]) <= 1.0)


def test_centre_crop_then_resize():
  """A 2:1 image whose centre square is white: the crop keeps only the centre."""
  image = np.zeros((8, 16, 3), np.uint8)
  image[:, 4:12] = 255
  import tensorflow as tf
  encoded = tf.io.encode_png(image)
  out = pipeline.preprocess_image(encoded, 4, 3).numpy()
  np.testing.assert_allclose(out, np.ones((4, 4, 3)), atol=1e-6)


def test_tfds_dataset_by_name_with_mock_data():
  c = tiny_config("", dataset="cifar10", channels=3, image_size=32)
  with tfds.testing.mock_data(num_examples=16):
    b = _take(c, 1)[0]
  assert b["image"].shape == (8, 32, 32, 3)
  c = tiny_config("", dataset="mnist", image_size=32)
  with tfds.testing.mock_data(num_examples=16):
    b = _take(c, 1)[0]
  assert b["image"].shape == (8, 32, 32, 1)


@pytest.mark.parametrize("dataset,match", [
    ("no_such_dataset_xyz", "unknown dataset"),
    ("/nonexistent/folder", "does not exist"),
])
def test_bad_sources(tmp_path, dataset, match):
  with pytest.raises(UsageError, match=match):
    pipeline.make_dataset(tiny_config(str(tmp_path), dataset=dataset))


def test_empty_folder(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(UsageError, match="holds no"):
    pipeline.make_dataset(tiny_config("", dataset=str(tmp_path / "empty")))


def test_sixteen_bit_png_keeps_its_range():
  import io
  ramp = np.tile(np.linspace(0, 65535, 16).astype(np.uint16), (16, 1))
  buf = io.BytesIO()
  Image.fromarray(ramp).save(buf, format="PNG")
  out = pipeline.preprocess_image(buf.getvalue(), 16, 1).numpy()[..., 0]
  np.testing.assert_allclose(out[0], np.linspace(-1, 1, 16), atol=0.02)
