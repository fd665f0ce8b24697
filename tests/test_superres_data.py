"""Super-resolution data: native-resolution HR patches, bicubic LR (checked against PIL),
a dataset's own LR cropped in register, shared flips, resume and per-process slicing."""

import ml_collections
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import pipeline, superres
from jaxgan.errors import UsageError
from helpers import tiny_config


def _config(dataset, data_dir="", scale=4, **overrides):
  c = tiny_config(data_dir, task="superres", dataset=dataset, channels=3, image_size=16,
                  batch_size=4, shuffle_buffer=8)
  c.superres = ml_collections.ConfigDict({"scale": scale})
  for k, v in overrides.items():
    c[k] = v
  return c


def _photo_folder(path, n=3, size=(40, 48)):
  rng = np.random.default_rng(0)
  images = []
  for i in range(n):
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(image).save(path / f"{i}.png")
    images.append(image)
  return str(path), images


def _take(config, n=2, **kw):
  it = pipeline.numpy_batches(pipeline.make_dataset(config, **kw))
  return [next(it) for _ in range(n)]


def _to_unit(image):
  return np.float32(image) / 127.5 - 1.0


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_degradation_matches_pil(scale):
  """TF's antialiased bicubic (Keys a=-0.5, widened by the scale) = PIL's BICUBIC resize
  up to PIL's 8-bit rounding between its two passes."""
  rng = np.random.default_rng(1)
  hr = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
  ours = superres.degrade(tf.constant(hr / 255.0, tf.float32), scale).numpy() * 255
  pil = np.asarray(Image.fromarray(hr).resize((96 // scale, 96 // scale), Image.BICUBIC))
  diff = np.abs(ours - pil)
  assert diff.max() <= 3.0 + 1e-3 and diff.mean() < 0.25, (diff.max(), diff.mean())
  np.testing.assert_allclose(ours, np.round(ours), atol=1e-3)  # 8-bit, as a saved LR file


def test_patches_are_native_crops_and_lr_is_their_degradation(tmp_path):
  folder, images = _photo_folder(tmp_path)
  c = _config(folder, flip=False)
  batch = _take(c, 1)[0]
  assert batch["image"].shape == (4, 16, 16, 3) and batch["input"].shape == (4, 4, 4, 3)
  for lr, hr in zip(batch["input"], batch["image"]):
    # HR is a crop of one of the images at native resolution, its corner on the LR grid.
    found = [(i, y, x) for i, im in enumerate(images)
             for y in range(0, im.shape[0] - 15, 4) for x in range(0, im.shape[1] - 15, 4)
             if np.allclose(_to_unit(im[y:y + 16, x:x + 16]), hr, atol=1e-5)]
    assert len(found) == 1
    expected = superres.degrade(tf.constant((hr + 1) / 2), 4).numpy() * 2 - 1
    np.testing.assert_allclose(lr, expected, atol=1e-5)


def test_flips_are_shared_and_cover_the_symmetries(tmp_path):
  folder, _ = _photo_folder(tmp_path, n=1, size=(16, 16))  # one image: the crop is all of it
  c = _config(folder, batch_size=32, shuffle_buffer=1)
  batch = _take(c, 1)[0]
  base = superres.superres_examples(c, 1)
  variants = set()
  for lr, hr in zip(batch["input"], batch["image"]):
    for k in range(8):  # which symmetry of the centre (unflipped) patch is this?
      t = lambda x: np.rot90(x if k < 4 else x[:, ::-1], k % 4)
      if np.allclose(t(base[1][0]), hr, atol=1e-5):
        np.testing.assert_allclose(t(base[0][0]), lr, atol=1e-5)  # LR flipped the same way
        variants.add(k)
        break
    else:
      raise AssertionError("an HR patch is no symmetry of the image")
  assert len(variants) >= 5  # 32 draws of 8 equally likely symmetries


def test_resume_and_process_slices_match_one_uninterrupted_process(tmp_path):
  folder, _ = _photo_folder(tmp_path)
  c = _config(folder)
  whole = _take(c, 3)
  resumed = _take(c, 2, start_step=1)
  for k in ("input", "image"):
    np.testing.assert_array_equal(resumed[0][k], whole[1][k])
    halves = [_take(c, 1, process_index=p, process_count=2)[0][k] for p in range(2)]
    np.testing.assert_array_equal(np.concatenate(halves), whole[0][k])


class HrLrPairs(tfds.core.GeneratorBasedBuilder):
  """Two images, each with its own LR image (PIL's bicubic / 2), like div2k's hr/lr."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "hr": tfds.features.Image(shape=(None, None, 3)),
        "lr": tfds.features.Image(shape=(None, None, 3))}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    rng = np.random.default_rng(2)
    for i in range(2):
      hr = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
      yield i, {"hr": hr, "lr": np.asarray(Image.fromarray(hr).resize((16, 12), Image.BICUBIC))}


def test_dataset_lr_is_cropped_in_register(tmp_path):
  c = _config("hr_lr_pairs", str(tmp_path), scale=2, image_key="hr", input_key="lr", flip=False)
  builder = HrLrPairs(data_dir=str(tmp_path))
  builder.download_and_prepare()
  examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
  batch = _take(c, 1)[0]
  for lr, hr in zip(batch["input"], batch["image"]):
    hits = [(e, y, x) for e in examples for y in range(0, 24 - 15, 2) for x in range(0, 32 - 15, 2)
            if np.allclose(_to_unit(e["hr"][y:y + 16, x:x + 16]), hr, atol=1e-5)]
    assert len(hits) == 1
    e, y, x = hits[0]
    np.testing.assert_allclose(lr, _to_unit(e["lr"][y // 2:y // 2 + 8, x // 2:x // 2 + 8]),
                               atol=1e-5)


def test_bad_settings_and_small_images_are_named(tmp_path):
  folder, _ = _photo_folder(tmp_path, size=(12, 12))
  with pytest.raises(UsageError, match="smaller than image_size=16"):
    _take(_config(folder), 1)
  with pytest.raises(UsageError, match="multiple of superres.scale=4"):
    superres.settings(_config(folder, image_size=18))
  with pytest.raises(UsageError, match="superres.scale=5"):
    superres.settings(_config(folder, scale=5))
  with pytest.raises(UsageError, match="unknown degradation"):
    superres.settings(_config(folder, degradation="jpeg"))
  with pytest.raises(UsageError, match="input_key names a TFDS feature"):
    _take(_config(folder, input_key="lr"), 1)
