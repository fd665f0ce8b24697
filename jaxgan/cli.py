"""`jaxgan train|generate|eval|translate|upscale|inpaint|project|latent-edit|convert`: parses
flags, calls library functions.

Bad input (UsageError) prints one line `jaxgan: error: ...` and exits 2.
"""

import argparse
import os
import sys

from jaxgan.errors import UsageError


def _split_config_overrides(extra: list[str]) -> dict[str, str]:
  """['--config.a.b=1', '--config.c', '2'] -> {'a.b': '1', 'c': '2'}; anything else is an error."""
  overrides, i = {}, 0
  while i < len(extra):
    arg = extra[i]
    if not arg.startswith("--config."):
      raise UsageError(f"unrecognised argument {arg!r}")
    field, eq, value = arg[len("--config."):].partition("=")
    if not eq:
      if i + 1 >= len(extra):
        raise UsageError(f"{arg} needs a value")
      i, value = i + 1, extra[i + 1]
    overrides[field] = value
    i += 1
  return overrides


def cmd_train(args, extra) -> int:
  from jaxgan import config as config_lib
  config = config_lib.load_config_file(args.config)
  config_lib.apply_overrides(config, _split_config_overrides(extra))
  from jaxgan.train import distributed, loop
  distributed.initialize(config)  # before anything touches JAX's devices
  allow = [f for f in args.allow_config_change.split(",") if f]
  try:
    loop.train_and_evaluate(config, args.workdir, allow_changes=allow)
  except loop.Preempted as e:
    print(f"jaxgan: {e}", file=sys.stderr)
    return 0
  print(f"jaxgan: trained to step {config.num_train_steps}; run in {os.path.abspath(args.workdir)}")
  return 0


def cmd_generate(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  if args.num <= 0:
    raise UsageError(f"--num must be positive, got {args.num}")
  if not args.out.endswith(".npz"):
    raise UsageError(f"--out must name a .npz file, got {args.out!r}")
  from jaxgan import generate
  generate.generate_to_files(args.workdir, num=args.num, out=args.out, seed=args.seed,
                             grid=args.grid, labels=generate.parse_labels(args.labels))
  print(f"jaxgan: wrote {args.num} samples to {args.out}" + (f" and {args.grid}" if args.grid else ""))
  return 0


def cmd_translate(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.edit import translate
  written = translate.translate_files(args.workdir, args.input, args.out, paired=args.paired,
                                      panels=args.panels, mode=args.mode, seed=args.seed,
                                      batch_size=args.batch_size, overwrite=args.overwrite,
                                      direction=args.direction)
  print(f"jaxgan: wrote {len(written)} translated image(s) to {args.out}")
  return 0


def _add_translate_parser(sub) -> None:
  tr = sub.add_parser("translate", help="apply a trained image-to-image model (pix2pix, "
                      "CycleGAN) to image files")
  tr.add_argument("--workdir", required=True, help="the run (its latest checkpoint)")
  tr.add_argument("--input", required=True, help="an image file or a folder of them")
  tr.add_argument("--out", required=True, help="output folder (one PNG per input)")
  tr.add_argument("--paired", action="store_true",
                  help="inputs are side-by-side A | B files (pix2pix datasets): translate the "
                       "half the run was trained from")
  tr.add_argument("--panels", action="store_true",
                  help="write input | output [| target] panels instead of the output alone")
  tr.add_argument("--mode", default="auto", help="paper: per-image BatchNorm statistics and "
                  "dropout on (the pix2pix test protocol); eval: running statistics, no "
                  "dropout; auto (default): paper for runs trained at batch 1, else eval")
  tr.add_argument("--seed", type=int, default=0, help="dropout noise of the paper mode")
  tr.add_argument("--batch-size", type=int, default=16)
  tr.add_argument("--overwrite", action="store_true", help="replace existing output files")
  tr.add_argument("--direction", default=None, help="CycleGAN runs: AtoB (G_A, default) or "
                  "BtoA (G_B); with --paired also which half of each file is the input")
  tr.set_defaults(func=cmd_translate)


def cmd_upscale(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.edit import upscale
  written, rows = upscale.upscale_files(args.workdir, args.input, args.out, tile=args.tile,
                                        tile_pad=args.tile_pad, panels=args.panels,
                                        evaluate=args.evaluate, overwrite=args.overwrite,
                                        lpips=args.lpips, lpips_lin=args.lpips_lin)
  def optional_text(get, key, label):  # SSIM, LPIPS: None where an image is too small
    return "" if get(key) is None else (
        f", {label} {get(key):.4f} (bicubic {get(key + '_bicubic'):.4f})")
  for row in rows:
    print(f"{row['file']}: PSNR {row['psnr']:.2f} dB (bicubic {row['psnr_bicubic']:.2f}), "
          f"on Y {row['psnr_y']:.2f} dB (bicubic {row['psnr_y_bicubic']:.2f})"
          + optional_text(row.get, "ssim_y", "SSIM on Y")
          + optional_text(row.get, "lpips", "LPIPS"))
  if rows:
    mean = lambda k: sum(r[k] for r in rows) / len(rows)
    print(f"jaxgan: mean PSNR {mean('psnr'):.2f} dB (bicubic {mean('psnr_bicubic'):.2f}), on Y "
          f"{mean('psnr_y'):.2f} dB (bicubic {mean('psnr_y_bicubic'):.2f}) over {len(rows)} "
          "image(s)")
    for key, label in (("ssim_y", "SSIM on Y"), ("lpips", "LPIPS")):
      have = [r for r in rows if r.get(key) is not None]
      if have:
        avg = lambda k: sum(r[k] for r in have) / len(have)
        print(f"jaxgan: mean {optional_text(avg, key, label)[2:]} over {len(have)} image(s)")
  print(f"jaxgan: wrote {len(written)} upscaled image(s) to {args.out}")
  return 0


def _add_upscale_parser(sub) -> None:
  up = sub.add_parser("upscale", help="apply a trained super-resolution model (SRGAN, "
                      "ESRGAN) to image files at their own size")
  up.add_argument("--workdir", required=True, help="the run (its latest checkpoint)")
  up.add_argument("--input", required=True, help="an image file or a folder of them")
  up.add_argument("--out", required=True, help="output folder (one PNG per input)")
  up.add_argument("--tile", type=int, default=0, help="upscale in tiles of this many input "
                  "pixels a side (bounded memory, one compilation); 0 (default): whole images")
  up.add_argument("--tile-pad", type=int, default=16, help="context pixels around each tile")
  up.add_argument("--panels", action="store_true",
                  help="write bicubic | model [| original] panels instead of the output alone")
  up.add_argument("--evaluate", action="store_true", help="inputs are ground truth: downscale "
                  "them (bicubic), upscale, and print PSNR against them beside bicubic's")
  _add_lpips_arguments(up, "--evaluate (LPIPS beside PSNR and SSIM)")
  up.add_argument("--overwrite", action="store_true", help="replace existing output files")
  up.set_defaults(func=cmd_upscale)


def cmd_inpaint(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.edit import inpaint
  written = inpaint.inpaint_files(args.workdir, args.input, args.out, masks=args.masks,
                                  random_masks=args.random_masks, seed=args.seed,
                                  panels=args.panels, overwrite=args.overwrite)
  print(f"jaxgan: wrote {len(written)} inpainted image(s) to {args.out}")
  return 0


def _add_inpaint_parser(sub) -> None:
  ip = sub.add_parser("inpaint", help="fill the holes of image files with a trained "
                      "inpainting model (DeepFill v2), at their own size")
  ip.add_argument("--workdir", required=True, help="the run (its latest checkpoint)")
  ip.add_argument("--input", required=True, help="an image file or a folder of them")
  ip.add_argument("--out", required=True, help="output folder (one PNG per input)")
  ip.add_argument("--masks", default=None, help="a mask file for every image, or a folder of "
                  "masks named as the images; white (>= 128) marks a hole")
  ip.add_argument("--random-masks", action="store_true",
                  help="draw holes as in training (DeepFill v2 strokes and boxes)")
  ip.add_argument("--seed", type=int, default=0, help="seed of --random-masks")
  ip.add_argument("--panels", action="store_true",
                  help="write input with holes | result panels instead of the result alone")
  ip.add_argument("--overwrite", action="store_true", help="replace existing output files")
  ip.set_defaults(func=cmd_inpaint)


def _floats(text: str, flag: str) -> list[float]:
  try:
    return [float(t) for t in text.split(",") if t.strip()]
  except ValueError:
    raise UsageError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def cmd_project(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan import generate
  from jaxgan.edit import latent_files, project
  options = project.ProjectOptions(
      space=args.space, num_steps=args.steps, learning_rate=args.learning_rate,
      restarts=args.restarts, prior_weight=args.prior_weight,
      perceptual_weight=args.perceptual_weight, seed=args.seed,
      lpips_weight=(1.0 if args.lpips else 0.0) if args.lpips_weight is None else args.lpips_weight,
      pixel_weight=args.pixel_weight)
  out = latent_files.project_files(args.workdir, args.input, args.out, options,
                                   labels=generate.parse_labels(args.labels),
                                   perceptual_weights=args.vgg19, lpips=args.lpips,
                                   lpips_lin=args.lpips_lin, panels=args.panels,
                                   overwrite=args.overwrite, batch_size=args.batch_size)
  n = len(out["latents"])
  print(f"jaxgan: projected {n} image(s) into {out['space']}: mean PSNR "
        f"{float(out['psnr_db'].mean()):.2f} dB; wrote their PNGs and "
        f"{os.path.join(args.out, latent_files.LATENTS_FILE)}")
  return 0


def _add_project_parser(sub) -> None:
  pr = sub.add_parser("project", help="GAN inversion: find the latents of image files in a "
                      "trained noise model (DCGAN, SNGAN, StyleGAN2)")
  pr.add_argument("--workdir", required=True, help="the run (its latest checkpoint)")
  pr.add_argument("--input", required=True, help="an image file or a folder of them (class "
                  "sub-folders become the groups of `latent-edit --attribute`)")
  pr.add_argument("--out", required=True, help="output folder: one reconstruction PNG per "
                  "input and latents.npz")
  pr.add_argument("--space", default="", help="z, w or w+ (StyleGAN2); default: w for "
                  "StyleGAN2, z otherwise")
  pr.add_argument("--steps", type=int, default=1000, help="optimisation steps")
  pr.add_argument("--learning-rate", type=float, default=0.1, help="Adam's peak rate")
  pr.add_argument("--restarts", type=int, default=1, help="starts per image, the best kept "
                  "(the first at the space's mean, the others random)")
  pr.add_argument("--prior-weight", type=float, default=0.0,
                  help="z only: weight of (|z|^2/d - 1)^2, keeping z where G was trained")
  pr.add_argument("--labels", default=None, metavar="K[,K...]",
                  help="class-conditional models: the inputs' classes (cycled); default: "
                       "every class is tried and the best kept")
  pr.add_argument("--vgg19", default=None, help="torchvision's vgg19-dcbb9e9d.pth, for "
                  "--perceptual-weight")
  pr.add_argument("--perceptual-weight", type=float, default=0.0,
                  help="weight of the VGG19 conv4_4 feature distance beside pixel MSE")
  _add_lpips_arguments(pr, "the LPIPS distance (NVIDIA's projector: vgg16-397923af.pth)")
  pr.add_argument("--lpips-weight", type=float, default=None,
                  help="weight of the LPIPS distance (default 1 with --lpips, else 0)")
  pr.add_argument("--pixel-weight", type=float, default=1.0,
                  help="weight of pixel MSE (NVIDIA's projector: 0, LPIPS alone)")
  pr.add_argument("--seed", type=int, default=0, help="restarts' draws and latent noise")
  pr.add_argument("--batch-size", type=int, default=64, help="candidates optimised together")
  pr.add_argument("--panels", action="store_true", help="write input | reconstruction panels")
  pr.add_argument("--overwrite", action="store_true", help="replace existing output files")
  pr.set_defaults(func=cmd_project)


def cmd_latent_edit(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.edit import latent_files
  out = latent_files.edit_files(
      args.workdir, args.out, latents_path=args.latents, samples=args.samples, seed=args.seed,
      space=args.space, interpolate=args.interpolate, pca=args.pca,
      pca_samples=args.pca_samples, attribute=args.attribute, source=args.source,
      target=args.target, strengths=_floats(args.strengths, "--strengths"), layers=args.layers,
      overwrite=args.overwrite)
  print(f"jaxgan: wrote {len(out['names'])} {out['kind']} grid(s) and "
        f"{os.path.join(args.out, latent_files.EDITS_FILE)}")
  return 0


def _add_latent_edit_parser(sub) -> None:
  le = sub.add_parser("latent-edit", help="interpolate between latents, or move them along "
                      "PCA (GANSpace) or attribute directions, and render the frames")
  le.add_argument("--workdir", required=True, help="the run (its latest checkpoint)")
  le.add_argument("--out", required=True, help="output folder: a PNG grid per latent, edits.npz")
  le.add_argument("--latents", default=None, help="latents.npz from `jaxgan project`")
  le.add_argument("--samples", type=int, default=0, help="or: the first N samples of "
                  "`jaxgan generate --seed SEED`")
  le.add_argument("--seed", type=int, default=0)
  le.add_argument("--space", default="", help="with --samples: z, w or w+")
  le.add_argument("--interpolate", type=int, default=0, metavar="FRAMES",
                  help="frames from each latent to the next (slerp in z, lerp in W)")
  le.add_argument("--pca", type=int, default=0, metavar="K",
                  help="edit along W's first K principal axes (GANSpace), in standard deviations")
  le.add_argument("--pca-samples", type=int, default=10_000, help="W samples of the PCA")
  le.add_argument("--attribute", default=None, metavar="LATENTS.npz",
                  help="edit along mean(--to group) - mean(--from group) of these latents")
  le.add_argument("--from", dest="source", default=None, help="the attribute's source group")
  le.add_argument("--to", dest="target", default=None, help="the attribute's target group")
  le.add_argument("--strengths", default="-2,-1,0,1,2", help="comma-separated multiples")
  le.add_argument("--layers", default=None, metavar="N-M", help="w+ only: edit these layers")
  le.add_argument("--overwrite", action="store_true", help="replace existing output files")
  le.set_defaults(func=cmd_latent_edit)


# --- eval (jaxgan/metrics) ----------------------------------------------------------------------
def _add_lpips_arguments(parser, use: str) -> None:
  parser.add_argument("--lpips", default=None, metavar="FILE", help=f"LPIPS weights for {use}: "
                      "torchvision's alexnet-owt-7be5be79.pth or vgg16-397923af.pth (the net "
                      "follows the file), a whole lpips module's state_dict, or an .npz of "
                      "`jaxgan convert lpips`")
  parser.add_argument("--lpips-lin", default=None, metavar="FILE", help="the lpips package's "
                      "weights/v0.1/{alex,vgg}.pth (default: found in the installed lpips)")


def cmd_eval(args, extra) -> int:
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.metrics import evaluate, feature_nets, image_runs
  if args.metrics is not None:  # bad names fail before anything loads
    evaluate.check_metrics_for_net(image_runs.parse_metrics(args.metrics), args.features)
  if args.features not in feature_nets.FEATURE_NETS:
    raise UsageError(f"unknown feature net {args.features!r}; valid: "
                     f"{', '.join(feature_nets.FEATURE_NETS)}")
  for flag, value, least in (("--num", args.num, 2), ("--batch-size", args.batch_size, 1),
                             ("--real-count", args.real_count, 0)):
    if value is not None and value < least:
      raise UsageError(f"{flag} must be at least {least}, got {value}")
  if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
    raise UsageError(f"output folder of {args.out!r} does not exist")
  result = evaluate.evaluate_run(
      os.path.abspath(os.path.expanduser(args.workdir)), metrics=args.metrics, num=args.num,
      features=args.features, batch_size=args.batch_size, seed=args.seed,
      stats_dir=args.stats_dir, real_count=args.real_count or None,
      inception_weights=args.inception_weights, dataset=args.dataset, split=args.split,
      mode=args.mode, lpips=args.lpips, lpips_lin=args.lpips_lin,
      whole_images=args.whole_images)
  values = result["metrics"]
  if "task" in result:
    print(f"{result['workdir']} step {result['step']}, {result['task']} on "
          f"{result['dataset']}/{result['split']}"
          + (f", features {result['features']}" if result["features"] else "") + ":")
  else:
    print(f"{result['workdir']} step {result['step']}, {args.num} samples vs "
          f"{values['num_real']} real ({result['dataset']}/{result['split']}), "
          f"features {result['features']}:")
  width = max(map(len, values))
  for key, value in values.items():
    print(f"  {key:{width}s} {value:.6g}" if isinstance(value, float) else f"  {key:{width}s} {value}")
  if args.out:
    import json
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
      json.dump(result, f, indent=2)
    os.replace(tmp, args.out)
  return 0


def _add_eval_parser(sub) -> None:
  ev = sub.add_parser(
      "eval", help="FID/KID/IS/precision-recall of a run's generator; for image-to-image "
                   "runs also L1/PSNR/SSIM against the ground truth",
      epilog="A noise model's samples are judged against its run's real data; an "
             "image-to-image run (pix2pix, CycleGAN, SRGAN/ESRGAN, DeepFill) is applied to "
             "every example of a split (--dataset/--split: e.g. the held-out one) and judged "
             "against that split's real images.")
  ev.add_argument("--workdir", required=True)
  ev.add_argument("--metrics", default=None,
                  help="comma-separated: fid,kid,is,pr (image-to-image runs also l1,psnr,ssim,"
                       "lpips); default fid,kid,is,pr, or fid,kid and the ground-truth ones")
  ev.add_argument("--num", type=int, default=10_000,
                  help="generated samples (image-to-image: at most this many examples)")
  ev.add_argument("--features", default="digits", help="feature net: digits, faces, inception")
  ev.add_argument("--batch-size", type=int, default=None,
                  help="images per generator and feature step (default 500; image-to-image "
                       "runs 32: their generators hold full-size activations)")
  ev.add_argument("--seed", type=int, default=0,
                  help="latent seed of the samples (pix2pix: paper-mode dropout; DeepFill: holes)")
  ev.add_argument("--real-count", type=int, default=50_000,
                  help="real images for the reference statistics (first N of the split; 0 = all)")
  ev.add_argument("--stats-dir", default=None,
                  help="reference statistics cache (default: $JAXGAN_STATS_DIR, else "
                       "~/.cache/jaxgan/stats)")
  ev.add_argument("--inception-weights", default=None, help="converted Inception .npz")
  ev.add_argument("--dataset", default=None,
                  help="judge against this TFDS name or folder instead of the run's "
                       "(CycleGAN: FOLDER_A,FOLDER_B)")
  ev.add_argument("--split", default=None,
                  help="judge against this TFDS split instead of the run's, e.g. train for a "
                       "run trained on train[:256], or test (CycleGAN: SPLIT_A,SPLIT_B)")
  ev.add_argument("--mode", default="auto", help="translation inference mode: auto, paper, eval "
                  "(as `jaxgan translate`)")
  ev.add_argument("--whole-images", action="store_true",
                  help="SR runs: judge every image whole (cropped to a multiple of the scale), "
                       "as the SR papers' Set5/Set14 tables, not centre patches; "
                       "full-reference metrics only")
  _add_lpips_arguments(ev, "the lpips metric (added to the default metrics when given)")
  ev.add_argument("--out", default=None, help="also write the results as JSON here")
  ev.set_defaults(func=cmd_eval)
# --- end eval -----------------------------------------------------------------------------------


def cmd_convert_inception(args, extra) -> int:
  """`jaxgan convert inception`: pytorch-fid's FID Inception .pth -> the .npz jaxgan loads."""
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.models import inception_convert
  out, digest = inception_convert.convert_pth(args.pth, args.out)
  if not digest.startswith(inception_convert.EXPECTED_SHA256_PREFIX):
    print(f"jaxgan: note: {args.pth} has sha256 {digest[:16]}..., not pytorch-fid's "
          f"{inception_convert.EXPECTED_SHA256_PREFIX}...; converted anyway, but FIDs are only "
          "comparable with published ones if its tensors are the 2015 Inception's", file=sys.stderr)
  print(f"jaxgan: wrote FID Inception weights to {out}")
  return 0


def cmd_convert_lpips(args, extra) -> int:
  """`jaxgan convert lpips`: a trunk .pth (+ the lin weights) -> one .npz read without torch."""
  if extra:
    raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
  from jaxgan.metrics import lpips
  net = lpips.convert(args.trunk, args.lin, args.out)
  print(f"jaxgan: wrote LPIPS ({net}) weights to {args.out}")
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="jaxgan", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)
  train = sub.add_parser("train", help="train (or resume) the GAN a config describes",
                         epilog="Any config field can be set with --config.FIELD=VALUE.")
  train.add_argument("--config", required=True, help="experiments/NAME.py")
  train.add_argument("--workdir", required=True, help="run directory (resumed if it exists)")
  train.add_argument("--allow-config-change", default="", metavar="FIELD,...",
                     help="resume although these config fields differ from the workdir's run")
  train.set_defaults(func=cmd_train)
  gen = sub.add_parser("generate", help="sample a trained generator")
  gen.add_argument("--workdir", required=True)
  gen.add_argument("--num", type=int, required=True, help="number of samples")
  gen.add_argument("--out", required=True, help="FILE.npz; holds `images`, uint8 (N, H, W, C) "
                   "(2-D toy models: `samples`, float32 (N, 2))")
  gen.add_argument("--seed", type=int, default=0)
  gen.add_argument("--grid", default=None, help="also write a PNG grid of the samples")
  gen.add_argument("--labels", default=None, metavar="K[,K...]",
                   help="class-conditional models: the classes to generate, cycled over the "
                        "samples (default: sample i gets class i mod num_classes); the .npz "
                        "then also holds `labels`")
  gen.set_defaults(func=cmd_generate)
  _add_eval_parser(sub)
  _add_translate_parser(sub)
  _add_upscale_parser(sub)
  _add_inpaint_parser(sub)
  _add_project_parser(sub)
  _add_latent_edit_parser(sub)
  convert = sub.add_parser("convert", help="convert third-party weights into jaxgan's format")
  convert_what = convert.add_subparsers(dest="what", required=True)
  conv_inc = convert_what.add_parser(
      "inception", help="pytorch-fid's FID Inception-v3 .pth -> .npz (needs torch)",
      epilog="Get the .pth from https://github.com/mseitzer/pytorch-fid/releases/download/"
             "fid_weights/pt_inception-2015-12-05-6726825d.pth")
  conv_inc.add_argument("--pth", required=True, help="pt_inception-2015-12-05-6726825d.pth")
  conv_inc.add_argument("--out", default=None, help="FILE.npz (default: $JAXGAN_INCEPTION_WEIGHTS"
                        " or ~/.cache/jaxgan/inception_fid.npz, where jaxgan looks)")
  conv_inc.set_defaults(func=cmd_convert_inception)
  conv_lp = convert_what.add_parser(
      "lpips", help="LPIPS weights (a torchvision trunk .pth and the lpips package's lin "
      ".pth) -> one .npz (needs torch)",
      epilog="Trunks: https://download.pytorch.org/models/alexnet-owt-7be5be79.pth or "
             "vgg16-397923af.pth; lin weights: weights/v0.1/{alex,vgg}.pth of `pip install lpips`")
  conv_lp.add_argument("--trunk", required=True, help="torchvision's AlexNet or VGG16 .pth, or "
                       "a whole lpips module's state_dict")
  conv_lp.add_argument("--lin", default=None, help="the lin weights' .pth (default: the trunk "
                       "file's, else the installed lpips package's)")
  conv_lp.add_argument("--out", required=True, help="FILE.npz")
  conv_lp.set_defaults(func=cmd_convert_lpips)
  return parser


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  args, extra = parser.parse_known_args(argv)
  try:
    return args.func(args, extra)
  except UsageError as e:
    print(f"jaxgan: error: {e}", file=sys.stderr)
    return 2
  except (RuntimeError, OSError) as e:
    return _runtime_failure(e)


def _runtime_failure(e: Exception) -> int:
  """One line and exit 1 for the failures a long run must report plainly; else re-raise."""
  from jaxgan.train.checkpoint import DISK_FULL_ERRNOS, CheckpointError
  from jaxgan.train.loop import NonFiniteError
  if isinstance(e, (NonFiniteError, CheckpointError)):
    print(f"jaxgan: training stopped: {e}", file=sys.stderr)
    return 1
  if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
    print(f"jaxgan: error: disk full writing {e.filename or 'a file'} ({e.strerror}); "
          "the last checkpoint is intact", file=sys.stderr)
    return 1
  raise e


if __name__ == "__main__":
  sys.exit(main())
