"""Unpaired data for image-to-image translation (CycleGAN): batches of {'input', 'image', 'label'}.

Two domains, A ('input') and B ('image'), each its own record stream: each is shuffled
with its own seed and repeated on its own, so the epochs of domains of different sizes
do not align and which B image meets which A image changes every epoch (as the
authors' unaligned dataset draws B independently of A). Each domain's source is
  * a TFDS split of config.dataset: config.split_a with feature config.key_a (e.g.
    cycle_gan/horse2zebra: split_a="trainA", split_b="trainB", key "image"), or
  * an image folder: config.folder_a (any PNG/JPEG/... files, bad ones handled by
    config.bad_images as for pipeline.make_dataset); it replaces the TFDS source.
One TFDS dataset serves as two domains through disjoint slices: the embedded
edges2digits gives edge maps (split_a="train[:800]", key_a="input") and digits
(split_b="train[800:1600]", key_b="image"), so no A image has its own B partner.

Config fields (besides those of pipeline.make_dataset):
  task: "unpaired" makes pipeline.make_dataset return this module's stream.
  split_a, split_b: TFDS split strings of config.dataset, slices allowed ("train[:900]").
    Required for each domain that has no folder.
  key_a, key_b: the TFDS image feature of each domain (default "image").
  folder_a, folder_b: an image folder for the domain, instead of the TFDS split.
  load_size: images are resized to load_size x load_size, then a random image_size crop
    is taken (CycleGAN: 286 for 256). Missing or 0 means image_size: no crop.
  flip: a random horizontal flip (default True).
  input_channels: domain A's channels, 1 or 3 (default config.channels, domain B's).

Each image is centre-cropped to a square, as pipeline.preprocess_image does. Nothing
is kept aligned across the domains: each image gets its own crop and flip, a function
of (config.seed, its domain, its position in its domain's stream) alone, drawn with
stateless ops, so a resumed run and any process count see the same global batches
as one uninterrupted process. Labels are zeros (the domains are the classes).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from jaxgan.data import paired, pipeline
from jaxgan.errors import UsageError

DOMAINS = ("a", "b")
CHANNELS = (1, 3)


def _given(config, field: str):
  value = config.get(field, None)
  return None if value in (None, "") else value


def unpaired_settings(config) -> dict:
  """The validated unpaired fields of `config`, defaults filled in."""
  s = paired.image_settings(config, "unpaired")
  for d in DOMAINS:
    if _given(config, f"folder_{d}") is None and _given(config, f"split_{d}") is None:
      dataset = config.get("dataset", None)
      if dataset and pipeline.is_folder_source(dataset):
        raise UsageError(f"unpaired data needs domain {d.upper()}'s images: dataset "
                         f"{dataset!r} is a folder; set --config.folder_{d}")
      raise UsageError(f"unpaired data needs domain {d.upper()}'s images: set "
                       f"--config.split_{d} (a split of dataset {dataset!r}, e.g. "
                       f"'train{d.upper()}' or 'train[:800]') or --config.folder_{d}")
  return dict(image_size=s["image_size"], load_size=s["load_size"], flip=s["flip"],
              channels={"a": s["input_channels"], "b": s["channels"]})


def domain_seed(seed: int, domain: str) -> int:
  """Domain `domain`'s own seed (shuffle and jitter), derived from config.seed: the two
  streams are independent, and each is the same whatever the other domain holds."""
  state = np.random.SeedSequence([int(seed) % 2**64, DOMAINS.index(domain)]).generate_state(1)
  return int(state[0])


def _source(config, domain: str) -> str:
  """The domain's source in words, for error messages."""
  folder = _given(config, f"folder_{domain}")
  if folder is not None:
    return f"folder_{domain}={folder!r}"
  return f"dataset {config.dataset!r} split_{domain}={config.get(f'split_{domain}')!r}"


def _domain_records(config, domain: str) -> tuple[tf.data.Dataset, int]:
  """(dataset of encoded images in record order, number of records) of one domain."""
  folder = _given(config, f"folder_{domain}")
  if folder is not None:
    files = pipeline._folder_files(folder, config.get("bad_images", "skip"))
    return tf.data.Dataset.from_tensor_slices(files).map(tf.io.read_file), len(files)
  name, split = config.dataset, config.get(f"split_{domain}")
  key_field = f"key_{domain}"
  key = _given(config, key_field) or "image"
  builder = pipeline.prepared_builder(config)
  features = builder.info.features
  if key not in features:
    raise UsageError(f"dataset {name!r} has no feature {key!r} (has: "
                     f"{', '.join(features.keys())}); set --config.{key_field}")
  if not isinstance(features[key], tfds.features.Image):
    raise UsageError(f"feature {key!r} of dataset {name!r} is not an image "
                     f"({type(features[key]).__name__}); set --config.{key_field}")
  try:
    # No autocache: unpaired_examples reads only the first records (TF warns of a partial cache).
    ds = builder.as_dataset(split=split, shuffle_files=False,
                            read_config=tfds.ReadConfig(try_autocache=False),
                            decoders={key: tfds.decode.SkipDecoding()})
  except (ValueError, KeyError, AssertionError) as e:
    raise UsageError(f"cannot read split {split!r} of dataset {name!r} for domain "
                     f"{domain.upper()} ({str(e).splitlines()[0]}); set --config.split_{domain}"
                     ) from None
  return ds.map(lambda ex: ex[key]), int(ds.cardinality())


def _nonempty_records(config, domain: str) -> tuple[tf.data.Dataset, int]:
  ds, num_records = _domain_records(config, domain)
  if num_records == 0:
    raise UsageError(f"domain {domain.upper()} ({_source(config, domain)}) holds no images")
  return ds, num_records


def domain_sizes(config) -> tuple[int, int]:
  """(images in domain A, images in domain B): what one epoch of each domain is."""
  unpaired_settings(config)
  return tuple(_nonempty_records(config, d)[1] for d in DOMAINS)


def _square_image(encoded: tf.Tensor) -> tf.Tensor:
  """Encoded image -> float32 RGB square in [0, 1]."""
  return paired._square(paired._decode(encoded))


def _domain_stream(config, domain: str, s: dict, *, batch: int, process_index: int,
                   process_count: int, start_step: int) -> tf.data.Dataset:
  """One domain's infinite stream of this process's jittered images, unbatched."""
  ds, num_records = _nonempty_records(config, domain)
  seed = domain_seed(config.seed, domain)
  buffer = min(config.shuffle_buffer, num_records) if num_records > 0 else config.shuffle_buffer
  ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
  ds = ds.enumerate()  # position in this domain's global stream: keys the jitter of each image
  if start_step:  # every step takes one global batch of each domain
    ds = ds.skip(start_step * config.batch_size)  # encoded records only: cheap
  if process_count > 1:  # this process's slice of every global batch
    ds = ds.batch(batch).shard(process_count, process_index).unbatch()
  size, channels = s["image_size"], s["channels"][domain]

  def prepare(index, encoded):
    record_seed = tf.stack([tf.constant(seed, tf.int64), index])
    image, = paired.jitter_images((_square_image(encoded),), record_seed,
                                  load_size=s["load_size"], image_size=size, flip=s["flip"])
    return paired._finish(image, size, channels)

  return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_unpaired_dataset(config, *, process_index: int = 0, process_count: int = 1,
                          start_step: int = 0) -> tf.data.Dataset:
  """The infinite unpaired training stream of this process (jittered).

  Returns:
    A tf.data.Dataset of per-process batches: input float32 (b, H, W, input_channels),
    domain A, and image float32 (b, H, W, channels), domain B, both in [-1, 1]; label
    int32 (b,) zeros.
  """
  s = unpaired_settings(config)
  batch = pipeline.local_batch_size(config.batch_size, process_count)
  a, b = (_domain_stream(config, d, s, batch=batch, process_index=process_index,
                         process_count=process_count, start_step=start_step) for d in DOMAINS)
  ds = tf.data.Dataset.zip((a, b)).map(
      lambda x, y: {"input": x, "image": y, "label": tf.constant(0, tf.int32)})
  ds = ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
  options = tf.data.Options()
  options.deterministic = True
  return ds.with_options(options)


def eval_domain(config, domain: str) -> tuple[tf.data.Dataset, int]:
  """(dataset of images, how many): every image of one domain in file/record order,
  resized to image_size with no jitter, float32 in [-1, 1]. The fixed inputs of the
  sample grids (unpaired_examples) and of `jaxgan eval`."""
  s = unpaired_settings(config)
  size, channels = s["image_size"], s["channels"][domain]
  ds, num_records = _nonempty_records(config, domain)
  return ds.map(lambda e: paired._finish(paired._resize(_square_image(e), size), size,
                                         channels)), num_records


def unpaired_examples(config, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(a, b): the first n images of each domain's eval_domain, the same on every run,
  process and resume. A domain of fewer than n images is cycled."""
  if n < 1:
    raise UsageError(f"unpaired_examples needs n >= 1, got {n}")
  out = []
  for d in DOMAINS:
    ds, _ = eval_domain(config, d)
    ds = ds.take(n).repeat().take(n).batch(n)
    try:
      out.append(next(ds.as_numpy_iterator()))
    except tf.errors.InvalidArgumentError as e:
      raise UsageError(f"cannot decode an image of domain {d.upper()} ({_source(config, d)}): "
                       f"{e.message.splitlines()[0]}") from None
  return out[0], out[1]
