"""tf.data input pipeline: source -> shuffle/repeat -> decode -> crop/resize -> [-1, 1] -> batch.

Every process builds the same global stream of encoded records (shuffled with a
fixed seed) and decodes only its slice of each global batch: process p of P takes
records [p*b, (p+1)*b) of every global batch of P*b records. The global batch is
therefore a function of (config, step) alone, whatever the process and device
count, and a resumed run skips the records it already consumed rather than
restarting the order. Each process reads every record (cheap: encoded bytes) but
decodes and augments only its own.
"""

import os
import re
import sys
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from jaxgan.data import embedded  # noqa: F401  (registers the offline TFDS builders)
from jaxgan.data import toy2d
from jaxgan.errors import UsageError

# TensorFlow is here for tf.data alone; it must never take accelerator memory from JAX.
try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # TF was already initialised by the caller; it then decided for itself
  pass

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
BAD_IMAGE_POLICIES = ("skip", "error")


def is_folder_source(dataset: str) -> bool:
  """A dataset naming a path (absolute, relative with a separator, or an existing dir)."""
  return os.sep in dataset or dataset.startswith((".", "~")) or os.path.isdir(dataset)


def list_image_files(folder: str) -> list[str]:
  """Image files under `folder`, recursively, sorted so every process sees the same list."""
  folder = os.path.expanduser(folder)
  if not os.path.isdir(folder):
    raise UsageError(f"image folder {folder!r} does not exist or is not a directory")
  if not os.access(folder, os.R_OK | os.X_OK):
    raise UsageError(f"image folder {folder!r} is not readable")
  files = []
  for root, _, names in os.walk(folder):
    files.extend(os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise UsageError(f"image folder {folder!r} holds no {'/'.join(IMAGE_EXTENSIONS)} files")
  return sorted(files)


def _decode_failure(path: str) -> str:
  """Why `path` does not decode (one line)."""
  try:
    tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  except (tf.errors.OpError, ValueError) as e:
    text = (getattr(e, "message", None) or str(e)).splitlines()[0]
    text = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:.*$", "", text)  # TF's op-location noise
    return text.strip() or type(e).__name__
  return "decodes now (changed while scanning?)"


def find_undecodable(files: list[str]) -> list[str]:
  """The files that TensorFlow cannot decode as images (corrupt, truncated, not images).

  Decodes every file once, in parallel; the result is cached per file list (paths,
  sizes, modification times) in ~/.cache/jaxgan/image_scans, so a restart is instant.
  """
  import hashlib
  import json
  stats = [(f, os.path.getsize(f), os.path.getmtime(f)) for f in files]
  key = hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:32]
  cache_dir = os.path.join(os.path.expanduser(os.environ.get("JAXGAN_CACHE", "~/.cache/jaxgan")),
                           "image_scans")
  cache = os.path.join(cache_dir, f"{key}.json")
  try:
    with open(cache) as f:
      return json.load(f)["undecodable"]
  except (OSError, ValueError, KeyError):
    pass
  ds = tf.data.Dataset.from_tensor_slices((np.arange(len(files)), files))
  ds = ds.map(lambda i, f: (i, tf.shape(tf.io.decode_image(tf.io.read_file(f), channels=3,
                                                           expand_animations=False))),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
  good = {int(i) for i, _ in ds.ignore_errors().as_numpy_iterator()}
  bad = [f for i, f in enumerate(files) if i not in good]
  try:
    os.makedirs(cache_dir, exist_ok=True)
    with open(cache + f".tmp{os.getpid()}", "w") as f:
      json.dump({"files": len(files), "undecodable": bad}, f)
    os.replace(cache + f".tmp{os.getpid()}", cache)
  except OSError:
    pass  # a read-only home only costs a rescan
  return bad


def _folder_files(folder: str, policy: str) -> list[str]:
  """The decodable image files of `folder`; undecodable ones skipped with a warning
  (policy "skip") or an error naming the first (policy "error")."""
  if policy not in BAD_IMAGE_POLICIES:
    raise UsageError(f"unknown bad_images policy {policy!r}; valid: {', '.join(BAD_IMAGE_POLICIES)}")
  files = list_image_files(folder)
  bad = find_undecodable(files)
  if not bad:
    return files
  first = f"{bad[0]}: {_decode_failure(bad[0])}"
  if policy == "error":
    raise UsageError(f"{len(bad)} of {len(files)} files in image folder {folder!r} do not decode "
                     f"as images (first: {first}); set --config.bad_images=skip to skip them")
  if len(bad) == len(files):
    raise UsageError(f"none of the {len(files)} files in image folder {folder!r} decodes as an "
                     f"image (first: {first})")
  print(f"jaxgan: warning: skipping {len(bad)} of {len(files)} files in {folder!r} that do not "
        f"decode as images (first: {first})", file=sys.stderr)
  bad_set = set(bad)
  return [f for f in files if f not in bad_set]


def prepared_builder(config) -> tfds.core.DatasetBuilder:
  """The TFDS builder of config.dataset in config.data_dir, prepared (downloaded or
  generated once); a UsageError says which dataset failed and why."""
  name = config.dataset
  data_dir = os.path.expanduser(config.data_dir) if config.get("data_dir") else None
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise UsageError(f"unknown dataset {name!r}: not a TFDS name, an embedded dataset "
                     f"({', '.join(embedded.EMBEDDED_DATASETS)}) or an image folder") from None
  try:
    builder.download_and_prepare()
  except Exception as e:  # no network, no manual files, ...: say which dataset and why
    raise UsageError(f"dataset {name!r} could not be prepared in "
                     f"{builder.data_dir}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
  return builder


def _encoded_records(config, autocache: bool = True) -> tuple[tf.data.Dataset, int]:
  """(dataset of {'encoded', 'label'} records, number of records). autocache=False for
  readers of a few records (TF warns of a partial cache otherwise)."""
  name = config.dataset
  if is_folder_source(name):
    files = _folder_files(name, config.get("bad_images", "skip"))
    ds = tf.data.Dataset.from_tensor_slices(files).map(
        lambda f: {"encoded": tf.io.read_file(f), "label": tf.constant(0, tf.int32)})
    return ds, len(files)
  builder = prepared_builder(config)
  features = builder.info.features
  image_key, label_key = config.image_key, config.label_key
  if image_key not in features:
    raise UsageError(f"dataset {name!r} has no feature {image_key!r} (has: "
                     f"{', '.join(features.keys())}); set --config.image_key")
  try:
    ds = builder.as_dataset(split=config.split, shuffle_files=False,
                            read_config=tfds.ReadConfig(try_autocache=autocache),
                            decoders={image_key: tfds.decode.SkipDecoding()})
  except (ValueError, KeyError, AssertionError) as e:
    raise UsageError(f"dataset {name!r} has no split {config.split!r} ({e})") from None
  has_label = label_key in features
  ds = ds.map(lambda ex: {"encoded": ex[image_key],
                          "label": tf.cast(ex[label_key], tf.int32) if has_label
                                   else tf.constant(0, tf.int32)})
  return ds, int(ds.cardinality())


def preprocess_image(encoded: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
  """Encoded PNG/JPEG -> float32 (image_size, image_size, channels) in [-1, 1].

  Centre-crops to a square on the short side, then resizes (bilinear, antialiased),
  so the crop covers the same region as the PyTorch tutorial's Resize + CenterCrop.
  """
  image = tf.io.decode_image(encoded, channels=3, expand_animations=False)  # grey/RGBA -> RGB
  image = tf.image.convert_image_dtype(image, tf.float32)                     # [0, 1]; 16-bit ok
  h, w = tf.shape(image)[0], tf.shape(image)[1]
  side = tf.minimum(h, w)
  image = tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)
  image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
  if channels == 1:
    image = tf.image.rgb_to_grayscale(image)
  image = tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0
  image.set_shape((image_size, image_size, channels))
  return image


def mock_tfds(num_examples: int):
  """Context manager: every TFDS dataset yields `num_examples` random examples of its own
  features, no download (tfds.testing.mock_data). For benchmarks and tests without data."""
  return tfds.testing.mock_data(num_examples=num_examples)


def local_batch_size(global_batch: int, process_count: int) -> int:
  if global_batch % process_count:
    raise UsageError(f"batch_size={global_batch} is not divisible by the {process_count} processes")
  return global_batch // process_count


def make_dataset(config, *, process_index: int = 0, process_count: int = 1,
                 start_step: int = 0) -> tf.data.Dataset:
  """The infinite training stream of this process: batches of {'image', 'label'}.

  Args:
    config: the experiment config (dataset, split, data_dir, image_key, label_key,
      image_size, channels, batch_size (global), shuffle_buffer, seed).
    process_index, process_count: this process's shard of the data.
    start_step: global steps already trained; their records are skipped (resume).
  Returns:
    A tf.data.Dataset of per-process batches, image float32 (b, H, W, C) in [-1, 1].
    With config.task == "paired": paired.make_paired_dataset's batches (+ 'input');
    "unpaired": unpaired.make_unpaired_dataset's (input: domain A, image: domain B);
    "superres": superres.make_superres_dataset's (input: low-res, image: high-res);
    "inpaint": this stream (the step draws its hole masks, jaxgan/data/masks.py).
  """
  if config.get("task", "noise") == "paired":  # image-to-image (pix2pix): jaxgan/data/paired.py
    from jaxgan.data import paired  # here, not at the top: paired imports this module
    return paired.make_paired_dataset(config, process_index=process_index,
                                      process_count=process_count, start_step=start_step)
  if config.get("task", "noise") == "unpaired":  # CycleGAN: jaxgan/data/unpaired.py
    from jaxgan.data import unpaired
    return unpaired.make_unpaired_dataset(config, process_index=process_index,
                                          process_count=process_count, start_step=start_step)
  if config.get("task", "noise") == "superres":  # SRGAN / ESRGAN: jaxgan/data/superres.py
    from jaxgan.data import superres
    return superres.make_superres_dataset(config, process_index=process_index,
                                          process_count=process_count, start_step=start_step)
  if toy2d.is_toy(config.dataset):  # 2-D points, generated in NumPy (no TFDS)
    return toy2d.make_stream(config, process_index=process_index, process_count=process_count,
                             start_step=start_step)
  batch = local_batch_size(config.batch_size, process_count)
  ds, num_records = _encoded_records(config)
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.split!r} is empty")
  buffer = min(config.shuffle_buffer, num_records) if num_records > 0 else config.shuffle_buffer
  ds = ds.shuffle(buffer, seed=int(config.seed), reshuffle_each_iteration=True).repeat()
  if start_step:
    ds = ds.skip(start_step * config.batch_size)  # encoded records only: cheap
  if process_count > 1:  # this process's slice of every global batch
    ds = ds.batch(batch).shard(process_count, process_index).unbatch()
  size, channels = config.image_size, config.channels
  ds = ds.map(lambda r: {"image": preprocess_image(r["encoded"], size, channels),
                         "label": r["label"]},
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  ds = ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def eval_images(config) -> tuple[tf.data.Dataset, int]:
  """(dataset of images, how many): every image of the config's split in record order,
  preprocessed as training images (float32 (H, W, C) in [-1, 1]): what `jaxgan eval`
  gives an inpainting run."""
  ds, num_records = _encoded_records(config, autocache=False)
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.split!r} is empty")
  size, channels = config.image_size, config.channels
  return ds.map(lambda r: preprocess_image(r["encoded"], size, channels)), num_records


def first_images(config, n: int, with_labels: bool = False):
  """The first n images of the dataset in record order (cycled when it has fewer),
  preprocessed as training images: float32 (n, H, W, C) in [-1, 1]. The fixed inputs of
  an inpainting run's sample grid and evaluation. `with_labels`: (images, int32 labels (n,)),
  0 where the dataset has none."""
  if n < 1:
    raise UsageError(f"first_images needs n >= 1, got {n}")
  ds, num_records = _encoded_records(config, autocache=False)
  if num_records == 0:
    raise UsageError(f"dataset {config.dataset!r} split {config.split!r} is empty")
  size, channels = config.image_size, config.channels
  ds = ds.take(n).repeat().take(n).map(
      lambda r: (preprocess_image(r["encoded"], size, channels), r["label"]))
  try:
    images, labels = next(ds.batch(n).as_numpy_iterator())
  except tf.errors.InvalidArgumentError as e:
    raise UsageError(f"cannot decode an input image: {e.message.splitlines()[0]}") from None
  return (images, labels) if with_labels else images


def numpy_batches(ds: tf.data.Dataset) -> Iterator[dict[str, np.ndarray]]:
  """NumPy batches, until a finite dataset ends; a corrupt image becomes a UsageError
  that names the problem."""
  it = ds.as_numpy_iterator()
  decode_error = tf.errors.InvalidArgumentError  # bound now: module globals vanish at exit
  while True:
    try:
      yield next(it)
    except StopIteration:
      return
    except decode_error as e:
      raise UsageError(f"cannot decode an input image: {e.message.splitlines()[0]}") from None
