"""Super-resolution data (SRGAN, ESRGAN): batches of {'input' (low-res), 'image' (high-res), 'label'}.

Each record gives one high-resolution (HR) training patch, cropped at random at its
native resolution (never resized: resizing would change the very detail SR learns),
and its low-resolution (LR) counterpart:
  * degradation "bicubic" (default): LR = the HR patch downscaled by `superres.scale`
    with an antialiased bicubic kernel, then rounded to 8 bits as a saved LR file is
    (the DIV2K / BasicSR "bicubic" track; TF's Keys a=-0.5 kernel widened by the scale,
    which is MATLAB imresize's kernel, up to its boundary handling);
  * input_key set (e.g. TFDS `div2k/bicubic_x4`: input_key="lr", image_key="hr"):
    the dataset's own LR image, the LR patch cropped at the HR patch's position / scale.
Then the same random horizontal flip, vertical flip and transpose of both (BasicSR's
`augment(hflip, rot)`: the 8 symmetries of the square), when `flip` is True.

Sources: an image folder, or a TFDS dataset (image_key, optional input_key). Images
smaller than image_size on either side stop the run with an error naming the size.
The crop and flips of a record are a function of (config.seed, its position in the
global stream), drawn with stateless ops; shuffling, per-process slicing and resume
are pipeline.make_dataset's.

Config fields: image_size (the HR patch: 96 for SRGAN, 128 for ESRGAN), channels,
superres.scale [4], degradation ["bicubic"], input_key [none], flip [True], and the
common ones (dataset, split, image_key, batch_size, shuffle_buffer, seed, data_dir).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from jaxgan.data import paired, pipeline  # decoding and [-1, 1] finishing as paired data
from jaxgan.errors import UsageError

DEGRADATIONS = ("bicubic",)
SCALES = (2, 4)  # the generators: one or two pixel-shuffle x2 stages


def settings(config) -> dict:
  """The validated super-resolution fields of `config`, defaults filled in."""
  size = int(config.image_size)
  channels = int(config.get("channels", 3))
  group = config.get("superres", None) or {}
  scale = int(group.get("scale", 4))
  if scale not in SCALES:
    raise UsageError(f"superres.scale={scale} is not supported; valid: {', '.join(map(str, SCALES))}")
  if size < scale or size % scale:
    raise UsageError(f"image_size={size} (the high-resolution patch) must be a positive "
                     f"multiple of superres.scale={scale}")
  if channels not in (1, 3):
    raise UsageError(f"channels={channels} is not supported; valid: 1, 3")
  degradation = config.get("degradation", "bicubic")
  if degradation not in DEGRADATIONS:
    raise UsageError(f"unknown degradation {degradation!r}; valid: {', '.join(DEGRADATIONS)}")
  flip = config.get("flip", True)
  if not isinstance(flip, (bool, np.bool_)):
    raise UsageError(f"flip={flip!r} must be True or False")
  return dict(image_size=size, scale=scale, channels=channels, degradation=degradation,
              flip=bool(flip), input_key=config.get("input_key", "") or "")


def _records(config, input_key: str) -> tuple[tf.data.Dataset, int]:
  """(dataset of {'hr', 'lr' (encoded; lr empty unless input_key), 'label'}, size)."""
  name = config.dataset
  if pipeline.is_folder_source(name):
    if input_key:
      raise UsageError("input_key names a TFDS feature; an image folder holds HR images only "
                       "(LR comes from the degradation)")
    files = pipeline._folder_files(name, config.get("bad_images", "skip"))
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda f: {"hr": tf.io.read_file(f), "lr": tf.constant(b""),
                   "label": tf.constant(0, tf.int32)})
    return ds, len(files)
  builder = pipeline.prepared_builder(config)
  features = builder.info.features
  hr_key = config.get("image_key", "image")
  for field, key in (("image_key", hr_key), ("input_key", input_key)):
    if key and key not in features:
      raise UsageError(f"dataset {name!r} has no feature {key!r} (has: "
                       f"{', '.join(features.keys())}); set --config.{field}")
  split = config.get("split", "train")
  keys = {hr_key, input_key} - {""}
  try:
    ds = builder.as_dataset(split=split, shuffle_files=False,
                            read_config=tfds.ReadConfig(try_autocache=False),
                            decoders={k: tfds.decode.SkipDecoding() for k in keys})
  except (ValueError, KeyError, AssertionError) as e:
    raise UsageError(f"dataset {name!r} has no split {split!r} ({e})") from None
  label_key = config.get("label_key", "label")
  has_label = label_key in features
  ds = ds.map(lambda ex: {"hr": ex[hr_key], "lr": ex[input_key] if input_key else tf.constant(b""),
                          "label": tf.cast(ex[label_key], tf.int32) if has_label
                                   else tf.constant(0, tf.int32)})
  return ds, int(ds.cardinality())


def degrade(hr: tf.Tensor, scale: int) -> tf.Tensor:
  """HR (H, W, C) in [0, 1] -> LR (H / scale, W / scale, C): antialiased bicubic, clipped
  and rounded to 8 bits."""
  h, w = tf.shape(hr)[0], tf.shape(hr)[1]  # dynamic: whole images have no static size
  lr = tf.image.resize(hr, tf.stack([h // scale, w // scale]), method="bicubic", antialias=True)
  return tf.round(tf.clip_by_value(lr, 0.0, 1.0) * 255.0) / 255.0


def _symmetry(images, u: tf.Tensor) -> tuple[tf.Tensor, ...]:
  """The same random flips of every (H, W, C) image: u (3,) uniform in [0, 1)."""
  def maybe(flag, fn):
    return lambda x: tf.cond(flag, lambda: fn(x), lambda: x)
  ops = (maybe(u[0] < 0.5, lambda x: tf.reverse(x, axis=[1])),         # horizontal flip
         maybe(u[1] < 0.5, lambda x: tf.reverse(x, axis=[0])),         # vertical flip
         maybe(u[2] < 0.5, lambda x: tf.transpose(x, perm=[1, 0, 2])))  # transpose
  out = []
  for image in images:
    for op in ops:
      image = op(image)
    out.append(image)
  return tuple(out)


def patch_pair(record, seed: tf.Tensor | None, s: dict) -> tuple[tf.Tensor, tf.Tensor]:
  """One record -> (LR patch, HR patch), float32 in [-1, 1]. `seed`: int64 (2,) for the
  random crop and flips; None for the centre patch, unflipped."""
  size, scale = s["image_size"], s["scale"]
  hr = paired._decode(record["hr"])
  h, w = tf.shape(hr)[0], tf.shape(hr)[1]
  tf.debugging.assert_greater_equal(
      tf.minimum(h, w), size,
      message=f"an image is smaller than image_size={size} (the high-resolution patch); "
              "super-resolution crops patches at native resolution")
  # The corner on the LR grid (a multiple of scale in HR pixels), so a dataset's own LR
  # image is cropped at exactly the HR patch's position.
  rows, cols = (h - size) // scale + 1, (w - size) // scale + 1
  if seed is None:
    y, x = (rows - 1) // 2, (cols - 1) // 2
  else:
    u = tf.random.stateless_uniform((5,), seed=seed)
    y = tf.minimum(tf.cast(u[0] * tf.cast(rows, tf.float32), tf.int32), rows - 1)
    x = tf.minimum(tf.cast(u[1] * tf.cast(cols, tf.float32), tf.int32), cols - 1)
  hr = tf.image.crop_to_bounding_box(hr, y * scale, x * scale, size, size)
  hr.set_shape((size, size, 3))
  if s["input_key"]:
    lr = paired._decode(record["lr"])
    tf.debugging.assert_equal(
        tf.shape(lr)[:2], tf.stack([h // scale, w // scale]),
        message=f"a low-resolution image is not its high-resolution image / {scale}")
    lr = tf.image.crop_to_bounding_box(lr, y, x, size // scale, size // scale)
  else:
    lr = degrade(hr, scale)
  if s["flip"] and seed is not None:
    lr, hr = _symmetry((lr, hr), u[2:])
  return (paired._finish(lr, size // scale, s["channels"]),
          paired._finish(hr, size, s["channels"]))


def make_superres_dataset(config, *, process_index: int = 0, process_count: int = 1,
                          start_step: int = 0) -> tf.data.Dataset:
  """The infinite SR training stream of this process.

  Returns:
    A tf.data.Dataset of per-process batches: input float32 (b, H/s, W/s, C) and image
    float32 (b, H, W, C), both in [-1, 1]; label int32 (b,) (zeros without a label).
  """
  s = settings(config)
  batch = pipeline.local_batch_size(config.batch_size, process_count)
  ds, num_records = _records(config, s["input_key"])
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.get('split', 'train')!r} is empty")
  buffer = min(config.shuffle_buffer, num_records) if num_records > 0 else config.shuffle_buffer
  seed = int(config.seed)
  ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.enumerate()  # position in the global stream: keys the crop of each record
  if start_step:
    ds = ds.skip(start_step * config.batch_size)
  if process_count > 1:
    ds = ds.batch(batch).shard(process_count, process_index).unbatch()

  def prepare(index, record):
    lr, hr = patch_pair(record, tf.stack([tf.constant(seed, tf.int64), index]), s)
    return {"input": lr, "image": hr, "label": record["label"]}

  ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def eval_patches(config) -> tuple[tf.data.Dataset, int]:
  """(dataset of (LR, HR), how many): the centre patch of every image of the config's
  split in record order, no flips, float32 in [-1, 1]. The fixed inputs of the sample
  grids (superres_examples) and of `jaxgan eval`."""
  s = settings(config)
  ds, num_records = _records(config, s["input_key"])
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.get('split', 'train')!r} is empty")
  return ds.map(lambda r: patch_pair(r, None, s)), num_records


def whole_pair(record, s: dict) -> tuple[tf.Tensor, tf.Tensor]:
  """One record -> (LR, HR) of the whole image, float32 in [-1, 1]: HR cropped at the top
  left to a multiple of the scale (BasicSR's mod_crop), LR the dataset's own (cropped to
  HR / scale) or the run's degradation of it."""
  scale = s["scale"]
  hr = paired._decode(record["hr"])
  full = tf.shape(hr)[:2]
  h, w = (full[0] // scale) * scale, (full[1] // scale) * scale
  tf.debugging.assert_greater(tf.minimum(h, w), 0,
                              message=f"an image is smaller than the scale ({scale})")
  hr = hr[:h, :w]
  if s["input_key"]:
    lr = paired._decode(record["lr"])
    tf.debugging.assert_equal(
        tf.shape(lr)[:2], full // scale,
        message=f"a low-resolution image is not its high-resolution image / {scale}")
    lr = lr[:h // scale, :w // scale]
  else:
    lr = degrade(hr, scale)
  return paired._finish(lr, None, s["channels"]), paired._finish(hr, None, s["channels"])


def eval_whole_images(config) -> tuple[tf.data.Dataset, int]:
  """(dataset of whole (LR, HR) pairs, each its own size; how many): every image of the
  config's split in record order, as the SR papers evaluate (Set5, Set14, DIV2K valid)."""
  s = settings(config)
  ds, num_records = _records(config, s["input_key"])
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.get('split', 'train')!r} is empty")
  return ds.map(lambda r: whole_pair(r, s)), num_records


def superres_examples(config, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(LR, HR): the first n pairs of eval_patches (cycled)."""
  if n < 1:
    raise UsageError(f"superres_examples needs n >= 1, got {n}")
  ds, _ = eval_patches(config)
  ds = ds.take(n).repeat().take(n).batch(n)
  try:
    lr, hr = next(ds.as_numpy_iterator())
  except tf.errors.InvalidArgumentError as e:
    raise UsageError(f"cannot read an image: {e.message.splitlines()[0]}") from None
  return lr, hr
