"""Paired data for image-to-image translation (pix2pix): batches of {'input', 'image', 'label'}.

Sources:
  * an image folder in pix2pix's published format (facades, maps, cityscapes,
    edges2shoes, ...): each file holds A on its left half and B on its right half;
  * a TFDS dataset with two image features, A = config.input_key and
    B = config.image_key (e.g. the embedded `edges2digits`: edge map -> digit).

Config fields (besides those of pipeline.make_dataset):
  task: "paired" makes pipeline.make_dataset return this module's stream
    (default "noise": the unconditional image stream).
  direction: "AtoB" (default) or "BtoA": which side is the input. pix2pix trains
    facades BtoA (label map -> photo).
  load_size: both images are resized to load_size x load_size, then the same random
    image_size crop is taken of each (pix2pix: 286 for 256). Missing or 0 means
    image_size: no crop.
  flip: the same random horizontal flip on input and target (default True).
  input_key: TFDS feature of A (default "input"); image_key is B's.
  input_channels: channels of the input, 1 or 3 (default config.channels).

Each half is first centre-cropped to a square (as pipeline.preprocess_image does;
pix2pix's halves are square already). The jitter of a record is a function of
(config.seed, its position in the global stream) alone, drawn with stateless ops,
so a resumed run and any process count see the same batches as one uninterrupted
process. The stream is shuffled, sliced per process and skipped on resume exactly
as pipeline.make_dataset does.
"""

from concurrent import futures

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from jaxgan.data import pipeline
from jaxgan.errors import UsageError

DIRECTIONS = ("AtoB", "BtoA")
CHANNELS = (1, 3)


def image_settings(config, what: str) -> dict:
  """The validated image fields both translation pipelines read (image_size, channels,
  input_channels, load_size, flip), defaults filled in; `what` names the data kind in
  error messages."""
  size = int(config.image_size)
  channels = int(config.get("channels", 3))
  input_channels = config.get("input_channels", None)
  input_channels = channels if input_channels in (None, 0) else int(input_channels)
  for field, value in (("channels", channels), ("input_channels", input_channels)):
    if value not in CHANNELS:
      raise UsageError(f"{field}={value} is not supported for {what} data; valid: "
                       f"{', '.join(map(str, CHANNELS))}")
  load_size = int(config.get("load_size", 0) or size)
  if size < 1:
    raise UsageError(f"image_size={size} must be positive")
  if load_size < size:
    raise UsageError(f"load_size={load_size} is smaller than image_size={size}; the random "
                     f"crop needs load_size >= image_size (equal: no crop)")
  flip = config.get("flip", True)
  if not isinstance(flip, (bool, np.bool_)):
    raise UsageError(f"flip={flip!r} must be True or False")
  return dict(image_size=size, load_size=load_size, flip=bool(flip), channels=channels,
              input_channels=input_channels)


def paired_settings(config) -> dict:
  """The validated paired fields of `config`, defaults filled in."""
  direction = config.get("direction", "AtoB")
  if direction not in DIRECTIONS:
    raise UsageError(f"unknown direction {direction!r}; valid: {', '.join(DIRECTIONS)}")
  return dict(direction=direction, **image_settings(config, "paired"))


def _image_width(path: str) -> int:
  """Width from the file header (PIL reads no pixels); -1 if PIL cannot tell."""
  from PIL import Image
  try:
    with Image.open(path) as im:
      return im.size[0]
  except Exception:  # TF decodes it (the bad-image scan said so): leave it to the graph check
    return -1


def _side_by_side_files(folder: str, policy: str) -> list[str]:
  """The decodable files of a pix2pix folder; an odd width (no two halves) is an error."""
  files = pipeline._folder_files(folder, policy)
  with futures.ThreadPoolExecutor(16) as pool:
    widths = list(pool.map(_image_width, files))
  odd = [(f, w) for f, w in zip(files, widths) if w > 0 and w % 2]
  if odd:
    raise UsageError(f"{len(odd)} of {len(files)} images in paired folder {folder!r} have an odd "
                     f"width (first: {odd[0][0]}, {odd[0][1]} pixels wide); each file must be "
                     f"A and B side by side, two halves of equal width")
  return files


def _tfds_pairs(config) -> tf.data.Dataset:
  """{'a', 'b' (encoded), 'label'} records of a TFDS dataset, in record order."""
  name = config.dataset
  builder = pipeline.prepared_builder(config)
  features = builder.info.features
  a_key, b_key = config.get("input_key", "input"), config.get("image_key", "image")
  for field, key in (("input_key", a_key), ("image_key", b_key)):
    if key not in features:
      raise UsageError(f"dataset {name!r} has no feature {key!r} (has: "
                       f"{', '.join(features.keys())}); set --config.{field}")
  label_key, split = config.get("label_key", "label"), config.get("split", "train")
  try:
    # No autocache: paired_examples reads only the first records (TF warns of a partial cache).
    ds = builder.as_dataset(split=split, shuffle_files=False,
                            read_config=tfds.ReadConfig(try_autocache=False),
                            decoders={k: tfds.decode.SkipDecoding() for k in {a_key, b_key}})
  except (ValueError, KeyError, AssertionError) as e:
    raise UsageError(f"dataset {name!r} has no split {split!r} ({e})") from None
  has_label = label_key in features
  return ds.map(lambda ex: {"a": ex[a_key], "b": ex[b_key],
                            "label": tf.cast(ex[label_key], tf.int32) if has_label
                                     else tf.constant(0, tf.int32)})


def _paired_records(config) -> tuple[tf.data.Dataset, int]:
  """(dataset of {'a', 'b' (encoded; b empty for a side-by-side file), 'label'}, size)."""
  if pipeline.is_folder_source(config.dataset):
    files = _side_by_side_files(config.dataset, config.get("bad_images", "skip"))
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda f: {"a": tf.io.read_file(f), "b": tf.constant(b""),
                   "label": tf.constant(0, tf.int32)})
    return ds, len(files)
  ds = _tfds_pairs(config)
  return ds, int(ds.cardinality())


def _decode(encoded: tf.Tensor) -> tf.Tensor:
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)  # grey/RGBA -> RGB
  return tf.image.convert_image_dtype(image, tf.float32)                     # [0, 1]


def _square(image: tf.Tensor) -> tf.Tensor:
  h, w = tf.shape(image)[0], tf.shape(image)[1]
  side = tf.minimum(h, w)
  return tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)


def _decode_pair(record, direction: str) -> tuple[tf.Tensor, tf.Tensor]:
  """Encoded record -> (input, target), float32 RGB squares in [0, 1]."""
  a = _decode(record["a"])

  def halves():
    w = tf.shape(a)[1]
    tf.debugging.assert_equal(w % 2, 0, message="a paired image has an odd width: no two halves")
    return a[:, :w // 2], a[:, w // 2:]

  def two_images():
    return a, _decode(record["b"])

  a, b = tf.cond(tf.equal(tf.strings.length(record["b"]), 0), halves, two_images)
  a, b = _square(a), _square(b)
  return (a, b) if direction == "AtoB" else (b, a)


def _resize(image: tf.Tensor, size: int) -> tf.Tensor:
  return tf.image.resize(image, (size, size), method="bilinear", antialias=True)


def _finish(image: tf.Tensor, size: int | None, channels: int) -> tf.Tensor:
  """[0, 1] RGB -> float32 (size, size, channels) in [-1, 1] (size None: as it is)."""
  if channels == 1:
    image = tf.image.rgb_to_grayscale(image)
  image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
  image.set_shape((size, size, channels) if size else (None, None, channels))
  return image


def jitter(input_image: tf.Tensor, target: tf.Tensor, seed: tf.Tensor, *, load_size: int,
           image_size: int, flip: bool) -> tuple[tf.Tensor, tf.Tensor]:
  """pix2pix's training jitter: resize both to load_size, then the SAME random image_size
  crop and the SAME random horizontal flip of each. `seed`: int64 (2,), stateless."""
  return jitter_images((input_image, target), seed, load_size=load_size, image_size=image_size,
                       flip=flip)


def jitter_images(images, seed: tf.Tensor, *, load_size: int, image_size: int,
                  flip: bool) -> tuple[tf.Tensor, ...]:
  """jitter of any number of images, all given the same crop and flip (one image: the
  unpaired jitter of data/unpaired.py). `seed`: int64 (2,), stateless."""
  images = [_resize(image, load_size) for image in images]
  u = tf.random.stateless_uniform((3,), seed=seed)
  room = load_size - image_size + 1
  y = tf.minimum(tf.cast(u[0] * room, tf.int32), room - 1)
  x = tf.minimum(tf.cast(u[1] * room, tf.int32), room - 1)
  do_flip = tf.logical_and(tf.constant(flip), u[2] < 0.5)

  def view(image):
    image = tf.image.crop_to_bounding_box(image, y, x, image_size, image_size)
    return tf.cond(do_flip, lambda: tf.reverse(image, axis=[1]), lambda: image)

  return tuple(view(image) for image in images)


def make_paired_dataset(config, *, process_index: int = 0, process_count: int = 1,
                        start_step: int = 0) -> tf.data.Dataset:
  """The infinite paired training stream of this process (jittered).

  Returns:
    A tf.data.Dataset of per-process batches: input float32 (b, H, W, input_channels)
    and image float32 (b, H, W, channels), both in [-1, 1]; label int32 (b,) (the
    dataset's label_key if it has one, else zeros).
  """
  s = paired_settings(config)
  batch = pipeline.local_batch_size(config.batch_size, process_count)
  ds, num_records = _paired_records(config)
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.get('split', 'train')!r} is empty")
  buffer = min(config.shuffle_buffer, num_records) if num_records > 0 else config.shuffle_buffer
  seed = int(config.seed)
  ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.enumerate()  # position in the global stream: keys the jitter of each record
  if start_step:
    ds = ds.skip(start_step * config.batch_size)  # encoded records only: cheap
  if process_count > 1:  # this process's slice of every global batch
    ds = ds.batch(batch).shard(process_count, process_index).unbatch()

  def prepare(index, record):
    input_image, target = _decode_pair(record, s["direction"])
    record_seed = tf.stack([tf.constant(seed, tf.int64), index])
    input_image, target = jitter(input_image, target, record_seed, load_size=s["load_size"],
                                 image_size=s["image_size"], flip=s["flip"])
    return {"input": _finish(input_image, s["image_size"], s["input_channels"]),
            "image": _finish(target, s["image_size"], s["channels"]),
            "label": record["label"]}

  ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def count_pairs(config) -> int:
  """Pairs in the config's dataset and split (a TFDS slice such as train[1600:] counts its own)."""
  return int(_paired_records(config)[1])


def eval_pairs(config) -> tuple[tf.data.Dataset, int]:
  """(dataset of (input, target), how many): every pair of the config's split in
  file/record order, resized to image_size with no jitter, float32 in [-1, 1]. The fixed
  inputs of the sample grids (paired_examples) and of `jaxgan eval`."""
  s = paired_settings(config)
  ds, num_records = _paired_records(config)
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.get('split', 'train')!r} is empty")
  size = s["image_size"]

  def prepare(record):
    input_image, target = _decode_pair(record, s["direction"])
    return (_finish(_resize(input_image, size), size, s["input_channels"]),
            _finish(_resize(target, size), size, s["channels"]))

  return ds.map(prepare), num_records


def paired_examples(config, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(inputs, targets): the first n pairs of eval_pairs, the same on every run, process
  and resume. A dataset of fewer than n pairs is cycled."""
  if n < 1:
    raise UsageError(f"paired_examples needs n >= 1, got {n}")
  ds, _ = eval_pairs(config)
  ds = ds.take(n).repeat().take(n).batch(n)
  try:
    inputs, targets = next(ds.as_numpy_iterator())
  except tf.errors.InvalidArgumentError as e:
    raise UsageError(f"cannot decode an input image: {e.message.splitlines()[0]}") from None
  return inputs, targets
