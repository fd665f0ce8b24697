"""Datasets that prepare offline, from images that Python packages ship, as TFDS builders.

Importing this module registers the builders, so `tfds.load("digits")` and
`jaxgan train --config.dataset=digits` work with no network. `edges2digits` is the
paired one (pix2pix: edge map -> digit), for `--config.task=paired`.
"""

import os

import numpy as np
import tensorflow_datasets as tfds

_SKIMAGE_CITATION = """@article{scikit-image, title={scikit-image: image processing in Python},
author={van der Walt, St\\'efan and others}, journal={PeerJ}, volume={2}, pages={e453}, year={2014}}"""


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's 1,797 8x8 handwritten digits (UCI optdigits test set), 0-16 scaled to 0-255."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="scikit-learn's load_digits(): 1,797 greyscale 8x8 digits with labels.",
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(8, 8, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=("image", "label"),
        homepage="https://archive.ics.uci.edu/dataset/80",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    for i, (image, label) in enumerate(zip(images, digits.target)):
      yield i, {"image": image[:, :, None], "label": int(label)}


class LfwFaces(tfds.core.GeneratorBasedBuilder):
  """The 100 greyscale 25x25 LFW faces that scikit-image ships (data.lfw_subset()[:100])."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Faces from Labeled Faces in the Wild, as shipped in skimage.data.lfw_subset.",
        features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(25, 25, 1))}),
        homepage="http://vis-www.cs.umass.edu/lfw/",
        citation=_SKIMAGE_CITATION,
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    from skimage import data
    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    for i, face in enumerate(faces):
      yield i, {"image": np.round(face * 255.0).astype(np.uint8)[:, :, None]}


# Colour photographs in the scikit-image and scikit-learn wheels.
_SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg",
                   "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg")
_SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")


def _photo_paths() -> list[str]:
  import skimage
  import sklearn.datasets
  sk = os.path.join(os.path.dirname(skimage.__file__), "data")
  sl = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
  return [os.path.join(sk, f) for f in _SKIMAGE_PHOTOS] + [os.path.join(sl, f) for f in _SKLEARN_PHOTOS]


class PackagedPhotos(tfds.core.GeneratorBasedBuilder):
  """Ten full-size colour photographs shipped with scikit-image and scikit-learn."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="Colour test photographs from skimage.data and sklearn.datasets images.",
        features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(None, None, 3))}),
        citation=_SKIMAGE_CITATION,
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    from PIL import Image
    for path in _photo_paths():
      with Image.open(path) as im:
        yield os.path.basename(path), {"image": np.asarray(im.convert("RGB"))}


def upsample_digit(image: np.ndarray, size: int = 32) -> np.ndarray:
  """uint8 (8, 8) digit -> uint8 (size, size), bilinear (PIL): smooth strokes to trace."""
  from PIL import Image
  return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def digit_edges(image: np.ndarray) -> np.ndarray:
  """uint8 (H, W) digit -> uint8 (H, W) edge map: 255 on the outline of its ink, 0 elsewhere.

  The ink is the pixels >= 128; the outline is its morphological gradient (dilation
  minus erosion by the 4-neighbour cross), a closed line two pixels wide, like the line
  drawings of pix2pix's edges2shoes. A function of the image alone, so a test can
  recompute it.
  """
  from scipy import ndimage
  ink = image >= 128
  outline = ndimage.binary_dilation(ink) & ~ndimage.binary_erosion(ink)
  return np.where(outline, 255, 0).astype(np.uint8)


class Edges2digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's digits at 32x32 paired with their edge maps: offline pix2pix data."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description="load_digits() upsampled to 32x32 (bilinear) as 'image', the outline of "
                    "its ink (digit_edges) as 'input', and the class as 'label'.",
        features=tfds.features.FeaturesDict({
            "input": tfds.features.Image(shape=(32, 32, 1)),
            "image": tfds.features.Image(shape=(32, 32, 1)),
            "label": tfds.features.ClassLabel(num_classes=10),
        }),
        homepage="https://archive.ics.uci.edu/dataset/80",
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    for i, (image, label) in enumerate(zip(images, digits.target)):
      image = upsample_digit(image)
      yield i, {"input": digit_edges(image)[:, :, None], "image": image[:, :, None],
                "label": int(label)}


EMBEDDED_DATASETS = ("digits", "lfw_faces", "packaged_photos", "edges2digits")
