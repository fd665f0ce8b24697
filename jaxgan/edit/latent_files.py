"""Files of `jaxgan project` and `jaxgan latent-edit`.

`project` reads image files (centre square, resized to the run's size, as `translate`),
projects them (edit/project.py) and writes one reconstruction PNG per input and
`latents.npz`, the currency of the latent commands:

  space     "z", "w" or "w+"
  latents   float32 (N, *shape)
  names     the inputs' paths relative to --input
  groups    each input's folder relative to --input ("" at the top): an image folder
            sorted into class folders (smiling/, neutral/) gives attribute groups
  labels    int32 (N,), class-conditional models only: the class projected under
  loss, psnr_db   float32 (N,): the final distance and the reconstruction's PSNR
  model, step     the run's model name and checkpoint step

`latent-edit` reads latents (such a file, or samples drawn as `jaxgan generate --seed`)
and writes, per latent, a PNG row of frames: an interpolation to the next latent, or edits
along PCA / attribute directions at several strengths; and `edits.npz` with every frame's
latents.
"""

import os

import jax.numpy as jnp
import numpy as np

from jaxgan import images as image_lib
from jaxgan import sampling
from jaxgan.edit import directions, latent_space
from jaxgan.edit import files as files_lib
from jaxgan.edit import project as project_lib
from jaxgan.errors import UsageError

LATENTS_FILE = "latents.npz"
EDITS_FILE = "edits.npz"


def load_noise_generator(workdir: str):
  """(config, generator, variables) of a run whose G draws from noise (the EMA weights
  when kept); UsageError for image-to-image and 2-D point models."""
  from jaxgan.generate import load_run
  from jaxgan.train import build
  from jaxgan.train.state import sampling_params
  config, gan, state = load_run(os.path.abspath(os.path.expanduser(workdir)))
  if build.is_image_model(config):
    raise UsageError(f"this run's model ({config.model.name}) takes images, not noise; it has "
                     f"no latent space (use `jaxgan {build.edit_command(config)}`)")
  if build.is_point_data(config):
    raise UsageError("this run generates 2-D points, not images; nothing to project")
  variables = {"params": sampling_params(state), "batch_stats": state.g.batch_stats}
  return config, gan.generator, variables, int(state.step)


def _save_npz_atomic(path: str, **arrays) -> None:
  from jaxgan.generate import _save_npz_atomic as save
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  save(path, **arrays)


def project_files(workdir: str, input_path: str, out_dir: str, options, *,
                  labels: list[int] | None = None, perceptual_weights: str | None = None,
                  lpips: str | None = None, lpips_lin: str | None = None,
                  panels: bool = False, overwrite: bool = False, batch_size: int = 64) -> dict:
  """Projects every image under `input_path`; writes PNGs and latents.npz into `out_dir`
  (nothing is written when an output exists and not `overwrite`). Returns the npz's arrays."""
  from jaxgan.edit.translate import load_image
  project_lib.check_options(options)
  files = files_lib.list_inputs(input_path)
  outputs = files_lib.output_paths(files, input_path, out_dir, overwrite)
  latents_path = os.path.join(out_dir, LATENTS_FILE)
  files_lib.refuse_existing([latents_path], overwrite)
  config, generator, variables, step = load_noise_generator(workdir)
  perceptual = _perceptual(perceptual_weights, options, config.channels)
  lpips_embed = _lpips(lpips, lpips_lin, options, config.image_size)
  label_array = None
  if labels is not None:
    num_classes = sampling.num_classes(generator)
    if not num_classes:
      raise UsageError("--labels needs a class-conditional model; this run's is unconditional")
    bad = [y for y in labels if not 0 <= y < num_classes]
    if bad:
      raise UsageError(f"--labels {bad[0]} is not a class of this model (0..{num_classes - 1})")
    label_array = np.resize(np.asarray(labels, np.int32), len(files))
  targets = np.stack([load_image(f, config.image_size, config.channels) for f in files])
  result = project_lib.project(generator, variables, targets, options, labels=label_array,
                               perceptual=perceptual, lpips_embed=lpips_embed,
                               batch_size=batch_size)
  for out_path, target, image in zip(outputs, targets, result["images"]):
    files_lib.write_png(out_path, np.concatenate([target, image], axis=1) if panels else image)
  root = os.path.expanduser(input_path)
  names = [os.path.relpath(f, root) if os.path.isdir(root) else os.path.basename(f) for f in files]
  arrays = {"space": np.array(result["space"]), "latents": result["latents"].astype(np.float32),
            "names": np.array(names), "groups": np.array([os.path.dirname(n) for n in names]),
            "loss": result["loss"].astype(np.float32),
            "psnr_db": project_lib.psnr(result["images"], targets).astype(np.float32),
            "model": np.array(config.model.name), "step": np.array(step)}
  if result["labels"] is not None:
    arrays["labels"] = result["labels"].astype(np.int32)
  _save_npz_atomic(latents_path, **arrays)
  return arrays


def _perceptual(path: str | None, options, channels: int):
  """VGG19 features (conv4_4, Image2StyleGAN's deepest layer) from torchvision's file."""
  if options.perceptual_weight <= 0:
    return None
  if not path:
    raise UsageError("--perceptual-weight needs --vgg19: torchvision's ImageNet VGG19 file "
                     "(vgg19-dcbb9e9d.pth); a VGG with random weights measures nothing")
  from jaxgan.models import vgg
  from jaxgan.train.warm_start import read_vgg19
  variables = read_vgg19(os.path.expanduser(path), "conv4_4", "--vgg19")
  net = vgg.VGG19Features("conv4_4")
  return project_lib.Embedding(
      lambda w, x: net.apply(w, x if channels == 3 else jnp.repeat(x, 3, axis=-1)), variables)


def _lpips(path: str | None, lin_path: str | None, options, size: int):
  """The LPIPS embedding of the projector's distance (NVIDIA's: VGG16 weights)."""
  if options.lpips_weight <= 0:
    if path:
      raise UsageError("--lpips is given but --lpips-weight is 0")
    return None
  if not path:
    raise UsageError("--lpips-weight needs --lpips: torchvision's vgg16-397923af.pth (NVIDIA's "
                     "projector) or alexnet-owt-7be5be79.pth, or an .npz of `jaxgan convert "
                     "lpips`; a random net measures nothing")
  from jaxgan.metrics import lpips
  net, variables = lpips.load(path, lin_path)
  return project_lib.lpips_embedding(net, variables, size)


def read_latents(path: str) -> dict:
  """A latents.npz written by `jaxgan project` (or `latent-edit`'s inputs)."""
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise UsageError(f"latents file {path!r} does not exist")
  try:
    with np.load(path, allow_pickle=False) as f:
      data = {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise UsageError(f"cannot read latents file {path!r}: {e}") from None
  missing = [k for k in ("space", "latents") if k not in data]
  if missing:
    raise UsageError(f"{path!r} is not a jaxgan latents file (no {missing[0]!r})")
  data["space"] = str(data["space"])
  return data


def _check_fits(generator, space: str, latents: np.ndarray, what: str) -> None:
  latent_space.check_space(generator, space)
  want = latent_space.latent_shape(generator, space)
  if tuple(latents.shape[1:]) != want:
    raise UsageError(f"{what}: latents of shape {tuple(latents.shape[1:])} do not fit this "
                     f"run's {space} space {want}; were they projected with another run?")


def edit_files(workdir: str, out_dir: str, *, latents_path: str | None = None,
               samples: int = 0, seed: int = 0, space: str = "",
               interpolate: int = 0, pca: int = 0, pca_samples: int = 10_000,
               attribute: str | None = None, source: str | None = None,
               target: str | None = None, strengths=(-2.0, -1.0, 0.0, 1.0, 2.0),
               layers: str | None = None, overwrite: bool = False) -> dict:
  """`jaxgan latent-edit` (module doc). Exactly one of latents_path / samples gives the
  latents, exactly one of interpolate / pca / attribute the edit. Returns edits.npz's arrays."""
  if (latents_path is None) == (samples <= 0):
    raise UsageError("give the latents: either --latents FILE.npz (from `jaxgan project`) or "
                     "--samples N")
  chosen = [flag for flag, on in (("--interpolate", interpolate), ("--pca", pca),
                                  ("--attribute", attribute)) if on]
  if len(chosen) != 1:
    raise UsageError("give exactly one edit: --interpolate FRAMES, --pca K or --attribute FILE")
  if attribute and (source is None or target is None):
    raise UsageError("--attribute needs --from GROUP and --to GROUP")
  strengths = np.asarray(strengths, np.float32)
  if not interpolate and not len(strengths):
    raise UsageError("--strengths is empty")
  config, generator, variables, _ = load_noise_generator(workdir)
  num_classes = sampling.num_classes(generator)
  if latents_path is not None:
    data = read_latents(latents_path)
    if space and space != data["space"]:
      raise UsageError(f"--space {space} differs from the latents file's {data['space']}")
    space, latents = data["space"], data["latents"].astype(np.float32)
    names = [os.path.splitext(str(n))[0] for n in data.get("names", range(len(latents)))]
    labels = data.get("labels")
  else:
    space = space or latent_space.default_space(generator)
    latent_space.check_space(generator, space)
    latents = np.asarray(latent_space.sample(generator, variables, space, seed, np.arange(samples)))
    names = [f"sample_{i:04d}" for i in range(samples)]
    labels = sampling.default_labels(generator, np.arange(samples))
  _check_fits(generator, space, latents, "--latents")
  if num_classes and labels is None:
    raise UsageError("this run is class-conditional but the latents file holds no labels")

  if interpolate:
    if len(latents) < 2:
      raise UsageError("--interpolate needs at least 2 latents")
    frames = np.stack([np.asarray(latent_space.interpolate(space, latents[i], latents[i + 1],
                                                           interpolate))
                       for i in range(len(latents) - 1)])
    rows = [f"{names[i]}_to_{os.path.basename(names[i + 1])}" for i in range(len(latents) - 1)]
    kind, row_labels = "interpolate", None if labels is None else labels[:-1]
    extra = {}
  else:
    mask = None
    if layers:
      if space != "w+":
        raise UsageError("--layers needs w+ latents (project with --space w+)")
      mask = directions.parse_layers(layers, generator.num_ws)
    if pca:
      if space == "z":
        raise UsageError("--pca needs a W space (StyleGAN2): z's prior is isotropic, its "
                         "principal axes are noise; use --attribute for z")
      w = np.asarray(latent_space.sample(generator, variables, "w", seed + 1_000_003,
                                         np.arange(pca_samples)))
      comps, stds, _ = directions.pca(w, pca)
      dirs = comps * stds[:, None]  # strength s: s standard deviations along the axis
      extra = {"components": comps, "stds": stds}
      kind = "pca"
    else:
      source_data = read_latents(attribute)
      _check_fits(generator, source_data["space"], source_data["latents"], "--attribute")
      groups = source_data.get("groups")
      if source_data.get("labels") is not None and (groups is None or not any(map(str, groups))):
        groups = source_data["labels"].astype(str)
      if groups is None:
        raise UsageError(f"{attribute!r} holds no groups or labels to compare")
      direction = directions.attribute(source_data["latents"], groups.astype(str), source, target)
      if source_data["space"] != space and not (source_data["space"] == "w" and space == "w+"):
        raise UsageError(f"--attribute's latents are in {source_data['space']}, the edited "
                         f"ones in {space}")
      dirs = direction[None]
      extra = {"direction": direction}
      kind = "attribute"
    # (N, K directions, S strengths, *shape)
    frames = np.stack([directions.edit(latents, d, strengths, mask) for d in dirs], axis=1)
    rows = names
    row_labels = labels
  png_paths = [os.path.join(out_dir, r + ".png") for r in rows]
  files_lib.refuse_existing(png_paths + [os.path.join(out_dir, EDITS_FILE)], overwrite)
  images = _decode_frames(generator, variables, space, frames, row_labels)
  for path, grid in zip(png_paths, images):
    files_lib.write_png(path, image_lib.make_grid(image_lib.to_uint8(grid.reshape(
        -1, *grid.shape[-3:])), ncols=grid.shape[-4]))
  arrays = {"kind": np.array(kind), "space": np.array(space), "frames": frames.astype(np.float32),
            "names": np.array(rows), "strengths": strengths, **extra}
  _save_npz_atomic(os.path.join(out_dir, EDITS_FILE), **arrays)
  return arrays


def _decode_frames(generator, variables, space, frames: np.ndarray, labels) -> np.ndarray:
  """frames (N, ..., *latent_shape) -> images (N, ..., H, W, C); row i under labels[i]."""
  shape = latent_space.latent_shape(generator, space)
  lead = frames.shape[:frames.ndim - len(shape)]
  flat = frames.reshape(-1, *shape)
  per_row = flat.shape[0] // lead[0]
  flat_labels = None if labels is None else np.repeat(np.asarray(labels, np.int32), per_row)
  images = project_lib.decode_all(generator, variables, space, flat, flat_labels)
  return images.reshape(*lead, *images.shape[1:])
