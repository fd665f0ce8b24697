"""PyTorch state_dicts (NumPy arrays) -> Flax variables: the DCGAN tutorial's networks for
jaxgan.models.dcgan, the pix2pix authors' UnetGenerator / NLayerDiscriminator for
jaxgan.models.pix2pix, and the CycleGAN authors' ResnetGenerator (with that D) for
jaxgan.models.cyclegan.

Layouts: Conv2d weight (out, in, kh, kw) -> kernel (kh, kw, in, out); ConvTranspose2d
weight (in, out, kh, kw) -> kernel (kh, kw, in, out) spatially flipped, because our
transposed convolution is a correlation over the dilated input (layers.ConvTranspose2d).
"""

import numpy as np


def conv_kernel(weight: np.ndarray) -> np.ndarray:
  return np.transpose(weight, (2, 3, 1, 0))


def conv_transpose_kernel(weight: np.ndarray) -> np.ndarray:
  return np.transpose(weight, (2, 3, 0, 1))[::-1, ::-1].copy()


def _split(state_dict: dict) -> tuple[list[np.ndarray], list[dict]]:
  """(4-D conv weights, BatchNorm parameter dicts), each in network order."""
  convs, norms = [], {}
  for name, value in state_dict.items():
    layer, _, field = name.rpartition(".")
    if field == "weight" and np.ndim(value) == 4:
      convs.append(value)
    elif field in ("weight", "bias", "running_mean", "running_var"):
      norms.setdefault(layer, {})[field] = value
  return convs, list(norms.values())


def _batch_norm(p: dict) -> tuple[dict, dict]:
  return ({"scale": np.asarray(p["weight"]), "bias": np.asarray(p["bias"])},
          {"mean": np.asarray(p["running_mean"]), "var": np.asarray(p["running_var"])})


def generator_variables(state_dict: dict) -> dict:
  """The tutorial Generator's state_dict -> {'params', 'batch_stats'} for dcgan.Generator."""
  convs, norms = _split(state_dict)
  params = {f"up{i}": {"kernel": conv_transpose_kernel(w)} for i, w in enumerate(convs)}
  stats = {}
  for i, p in enumerate(norms):
    params[f"bn{i}"], stats[f"bn{i}"] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}


def discriminator_variables(state_dict: dict) -> dict:
  """The tutorial Discriminator's state_dict -> {'params', 'batch_stats'} for dcgan.Discriminator."""
  convs, norms = _split(state_dict)
  params = {f"down{i}": {"kernel": conv_kernel(w)} for i, w in enumerate(convs[:-1])}
  params["logit"] = {"kernel": conv_kernel(convs[-1])}
  stats = {}
  for i, p in enumerate(norms, start=1):  # the first D stage has no BatchNorm
    params[f"bn{i}"], stats[f"bn{i}"] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}


# --- pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix; benchmarks/torch_pix2pix.py) ----------
# Keys are read by module structure: the U-Net nests one block per level, each an
# nn.Sequential called `model`, so a key's depth of nesting is its level and its index in
# that Sequential orders the block's own layers (down conv before up conv, down norm before
# up norm). A layer is a conv if its weight is 4-D, a BatchNorm if it has running stats;
# InstanceNorm(affine=False) has no entries at all.


def _layers(state_dict: dict, depth_of) -> dict:
  """{group: [(index, {field: array})] sorted by index} from keys '<...>.<index>.<field>'."""
  groups = {}
  for key, value in state_dict.items():
    key = key[len("module."):] if key.startswith("module.") else key  # DataParallel saves
    *path, index, field = key.split(".") if key.count(".") >= 2 else ["?", "?", key]
    if not index.isdigit():
      raise ValueError(f"no '<layer index>.<field>' at the end of state_dict key {key!r}")
    if field == "num_batches_tracked":
      continue
    group = depth_of(key, path)
    groups.setdefault(group, {}).setdefault(int(index), {})[field] = np.asarray(value)
  return {g: sorted(layers.items()) for g, layers in groups.items()}


def _roles(layers: list) -> tuple[list[dict], list[dict]]:
  convs = [p for _, p in layers if "weight" in p and p["weight"].ndim == 4]
  norms = [p for _, p in layers if "running_mean" in p]
  return convs, norms


def _unet_depth(key: str, path: list[str]) -> int:
  # path: 'model' (the generator's outermost block), ('model', index) for each enclosing
  # level's Sequential and the slot of the next block in it, then the Sequential 'model'.
  inner = path[1:-1]
  if (len(path) < 2 or path[0] != "model" or path[-1] != "model" or len(inner) % 2
      or any(t != "model" for t in inner[::2]) or not all(t.isdigit() for t in inner[1::2])):
    raise ValueError(f"not a pix2pix UnetGenerator key: {key!r}")
  return len(inner) // 2


def pix2pix_generator_variables(state_dict: dict) -> dict:
  """UnetGenerator's state_dict -> {'params', 'batch_stats'} for pix2pix.UNetGenerator."""
  levels = _layers(state_dict, _unet_depth)
  n = len(levels)
  if sorted(levels) != list(range(n)):
    raise ValueError(f"U-Net levels {sorted(levels)} are not 0..{n - 1}")
  params, stats = {}, {}
  for level, layers in levels.items():
    convs, norms = _roles(layers)
    if len(convs) != 2:
      raise ValueError(f"U-Net level {level} has {len(convs)} convs, expected 2")
    for conv, name, kernel in ((convs[0], f"down{level}", conv_kernel),
                               (convs[1], f"up{level}", conv_transpose_kernel)):
      params[name] = {"kernel": kernel(conv["weight"])}
      if "bias" in conv:
        params[f"{name}_bias"] = conv["bias"]
    # BatchNorm: the outermost level has none, the innermost only the up norm.
    names = ([] if level == 0 else [f"up{level}_norm"] if level == n - 1
             else [f"down{level}_norm", f"up{level}_norm"])
    if norms and len(norms) != len(names):
      raise ValueError(f"U-Net level {level} has {len(norms)} norms, expected {len(names)}")
    for name, p in zip(names, norms):
      params[name], stats[name] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}


def _flat_depth(key: str, path: list[str]) -> int:
  if path != ["model"]:
    raise ValueError(f"not a pix2pix NLayerDiscriminator key: {key!r}")
  return 0


def pix2pix_discriminator_variables(state_dict: dict) -> dict:
  """NLayerDiscriminator's state_dict -> {'params', 'batch_stats'} for PatchDiscriminator."""
  convs, norms = _roles(_layers(state_dict, _flat_depth)[0])
  if norms and len(norms) != len(convs) - 2:  # all but the first and last conv are normed
    raise ValueError(f"{len(convs)} convs but {len(norms)} norms")
  params, stats = {}, {}
  for i, conv in enumerate(convs):
    params[f"conv{i}"] = {"kernel": conv_kernel(conv["weight"])}
    if "bias" in conv:
      params[f"conv{i}_bias"] = conv["bias"]
  for i, p in enumerate(norms, start=1):
    params[f"norm{i}"], stats[f"norm{i}"] = _batch_norm(p)
  return {"params": params, "batch_stats": stats}


# --- CycleGAN (junyanz/pytorch-CycleGAN-and-pix2pix; benchmarks/torch_cyclegan.py) -------
# ResnetGenerator is one Sequential `model`: its own convs (stem, two down, two transposed
# up, head) at model.<i>, each residual block at model.<i> with its layers at
# model.<i>.conv_block.<j>. Roles come from order: the k-th conv of the top level, the
# blocks by their index. The D is pix2pix's NLayerDiscriminator (one per domain).

_RESNET_TOP = ("stem", "down0", "down1", "up0", "up1", "head")


def _resnet_group(key: str, path: list[str]) -> int:
  # -1: the generator's own layers; i >= 0: the residual block at model.<i>.
  if path == ["model"]:
    return -1
  if len(path) == 3 and path[0] == "model" and path[1].isdigit() and path[2] == "conv_block":
    return int(path[1])
  raise ValueError(f"not a CycleGAN ResnetGenerator key: {key!r}")


def _put_conv(params: dict, stats: dict, name: str, conv: dict, norm: dict | None, kernel):
  params[name] = {"kernel": kernel(conv["weight"])}
  if "bias" in conv:
    params[f"{name}_bias"] = conv["bias"]
  if norm is not None:  # BatchNorm variant; InstanceNorm(affine=False) stores nothing
    params[f"{name}_norm"], stats[f"{name}_norm"] = _batch_norm(norm)


def cyclegan_generator_variables(state_dict: dict) -> dict:
  """ResnetGenerator's state_dict -> {'params', 'batch_stats'} for cyclegan.ResnetGenerator."""
  groups = _layers(state_dict, _resnet_group)
  if -1 not in groups:
    raise ValueError("no top-level ResnetGenerator layers (model.<i>.weight)")
  convs, norms = _roles(groups.pop(-1))
  if len(convs) != len(_RESNET_TOP):
    raise ValueError(f"ResnetGenerator has {len(convs)} top-level convs, expected 6")
  if norms and len(norms) != len(convs) - 1:  # every conv but the head is normed
    raise ValueError(f"{len(convs)} top-level convs but {len(norms)} norms")
  params, stats = {}, {}
  for k, (name, conv) in enumerate(zip(_RESNET_TOP, convs)):
    kernel = conv_transpose_kernel if name.startswith("up") else conv_kernel
    _put_conv(params, stats, name, conv, norms[k] if norms and k < len(norms) else None, kernel)
  for b, index in enumerate(sorted(groups)):
    convs, norms = _roles(groups[index])
    if len(convs) != 2 or len(norms) not in (0, 2):
      raise ValueError(f"residual block model.{index} has {len(convs)} convs and "
                       f"{len(norms)} norms, expected 2 and 0 or 2")
    for j, conv in enumerate(convs):
      _put_conv(params, stats, f"block{b}_conv{j}", conv, norms[j] if norms else None,
                conv_kernel)
  return {"params": params, "batch_stats": stats}


def cyclegan_variables(g_a: dict, g_b: dict, d_a: dict, d_b: dict) -> tuple[dict, dict]:
  """The authors' netG_A, netG_B, netD_A, netD_B state_dicts -> (variables of
  cyclegan.CycleGenerators, of cyclegan.CycleDiscriminators). G_A maps A -> B, D_A judges
  domain B (as theirs and ours). 'batch_stats' only where a BatchNorm variant has some."""

  def pair(first: dict, second: dict, names: tuple[str, str]) -> dict:
    out = {}
    for name, variables in zip(names, (first, second)):
      for collection, tree in variables.items():
        if tree:
          out.setdefault(collection, {})[name] = tree
    return out

  return (pair(cyclegan_generator_variables(g_a), cyclegan_generator_variables(g_b),
               ("g_a", "g_b")),
          pair(pix2pix_discriminator_variables(d_a), pix2pix_discriminator_variables(d_b),
               ("d_a", "d_b")))


# --- DeepFill v2 (nipponjo/deepfillv2-pytorch model/networks.py; benchmarks/torch_inpaint.py) --
# Generator keys: stage{1,2}.<module path>.conv.weight / .bias, the GDeConv of an upsampling
# block one '.conv' deeper; our gated convs are named by the path without the 'conv'
# segments, joined by '_' (stage1.down_block1.conv1_downsample.conv.weight ->
# params['stage1']['down_block1_conv1_downsample']['kernel']). The gate halves stay in
# torch's order (features first, then gates), so the weight is only transposed.


def _strip_module(state_dict: dict) -> dict:
  return {k[len("module."):] if k.startswith("module.") else k: np.asarray(v)
          for k, v in state_dict.items()}


def deepfill_generator_variables(state_dict: dict) -> dict:
  """The port's Generator state_dict (a checkpoint's 'G') -> {'params'} for
  inpaint.DeepFillGenerator."""
  params = {}
  for key, value in _strip_module(state_dict).items():
    parts = key.split(".")
    if parts[-1] == "fuse_weight":  # contextual attention's fixed eye(3): no parameter
      continue
    if parts[0] not in ("stage1", "stage2") or parts[-1] not in ("weight", "bias") \
        or len(parts) < 4 or parts[-2] != "conv":
      raise ValueError(f"not a DeepFill Generator key: {key!r}")
    name = "_".join(p for p in parts[1:-1] if p != "conv")
    leaf = conv_kernel(value) if parts[-1] == "weight" else value
    params.setdefault(parts[0], {}).setdefault(name, {})[
        "kernel" if parts[-1] == "weight" else "bias"] = leaf
  if set(params) != {"stage1", "stage2"}:
    raise ValueError("a DeepFill Generator state_dict has stage1 and stage2 entries")
  return {"params": params}


def _torch_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
  return x / max(float(np.linalg.norm(x)), eps)


def deepfill_discriminator_variables(state_dict: dict) -> dict:
  """The SN-PatchGAN Discriminator's state_dict -> {'params', 'batch_stats'} for
  inpaint.SNPatchDiscriminator: conv<i>.conv_sn.{weight, bias, weight_u, weight_v}
  (benchmarks/torch_inpaint.py; the port's own checkpoints lack weight_v: it is then
  N(W^T u), as its next power iteration computes it) or, from
  torch.nn.utils.spectral_norm, weight_orig in place of weight."""
  layers = {}
  for key, value in _strip_module(state_dict).items():
    parts = key.split(".")
    if len(parts) != 3 or parts[1] != "conv_sn" or not parts[0].startswith("conv"):
      raise ValueError(f"not a DeepFill Discriminator key: {key!r}")
    layers.setdefault(parts[0], {})[parts[2]] = value
  params, stats = {}, {}
  for name, p in layers.items():
    w = p.get("weight_orig", p.get("weight"))
    if w is None or w.ndim != 4 or "bias" not in p or "weight_u" not in p:
      raise ValueError(f"incomplete spectral-norm conv {name!r}: {sorted(p)}")
    out, cin, kh, kw = w.shape
    u = p["weight_u"].reshape(out)
    v = p.get("weight_v")
    v = _torch_normalize(w.reshape(out, -1).T @ u) if v is None else v.reshape(-1)
    params[name] = {"kernel": conv_kernel(w), "bias": p["bias"]}
    # torch's v is over (in, kh, kw); ours over the kernel's (kh, kw, in).
    stats[name] = {"sn_u": u, "sn_v": v.reshape(cin, kh, kw).transpose(1, 2, 0).reshape(-1)}
  return {"params": params, "batch_stats": stats}


# --- Super-resolution (jaxgan/models/srgan.py; benchmarks/torch_srgan.py) -------------------
# Every torch module maps onto one Flax module, so keys convert one by one: the module path
# is renamed (dots to Flax names), then the field by the layer's kind: a 4-D weight is a
# conv kernel, a 2-D one a Linear's (transposed), a 1-D weight with running statistics
# beside it a BatchNorm scale, any other 1-D weight a PReLU's slopes.


def _unwrap(state_dict: dict) -> dict:
  """BasicSR saves {'params': sd} or {'params_ema': sd} (the EMA G is the released one);
  DataParallel prefixes 'module.'."""
  for wrapper in ("params_ema", "params"):
    if isinstance(state_dict.get(wrapper), dict):
      state_dict = state_dict[wrapper]
      break
  return {(k[len("module."):] if k.startswith("module.") else k): np.asarray(v)
          for k, v in state_dict.items()}


def _module_tree(state_dict: dict, rename) -> dict:
  """{'params', 'batch_stats'} from a state_dict; rename(module path) -> Flax path tuple
  (or raises ValueError for a key of another network)."""
  sd = _unwrap(state_dict)
  params, stats = {}, {}
  for key, value in sd.items():
    path, _, field = key.rpartition(".")
    if field == "num_batches_tracked":
      continue
    target = rename(path, key)
    is_bn = f"{path}.running_mean" in sd
    if field == "weight":
      if value.ndim == 4:
        tree, name, value = params, "kernel", conv_kernel(value)
      elif value.ndim == 2:
        tree, name, value = params, "kernel", value.T
      else:
        tree, name = params, "scale" if is_bn else "alpha"
    elif field == "bias":
      tree, name = params, "bias"
    elif field in ("running_mean", "running_var"):
      tree, name = stats, "mean" if field == "running_mean" else "var"
    else:
      raise ValueError(f"unexpected state_dict entry {key!r}")
    node = tree
    for part in target:
      node = node.setdefault(part, {})
    node[name] = np.array(value, dtype=np.float32)
  return {"params": params, "batch_stats": stats} if stats else {"params": params}


def _renamer(table: dict, pattern_fn, what: str):
  def rename(path: str, key: str) -> tuple:
    if path in table:
      return (table[path],)
    out = pattern_fn(path.split("."))
    if out is None:
      raise ValueError(f"not a {what} key: {key!r}")
    return out
  return rename


def srresnet_variables(state_dict: dict) -> dict:
  """benchmarks/torch_srgan.SRResNet's state_dict -> variables of srgan.SRResNet."""
  def pattern(p):
    if len(p) == 3 and p[0] == "blocks" and p[1].isdigit():
      return (f"block{p[1]}", p[2])
    if len(p) == 3 and p[0] == "up" and p[1].isdigit() and p[2] in ("conv", "prelu"):
      return (f"up{p[1]}_{p[2]}",)
    return None
  table = {n: n for n in ("conv_in", "prelu_in", "conv_mid", "bn_mid", "conv_out")}
  return _module_tree(state_dict, _renamer(table, pattern, "SRResNet"))


def srgan_discriminator_variables(state_dict: dict) -> dict:
  """benchmarks/torch_srgan.SRGANDiscriminator's state_dict -> srgan.SRGANDiscriminator's."""
  def pattern(p):
    if len(p) == 2 and p[0] in ("convs", "bns") and p[1].isdigit():
      return (f"{p[0][:-1]}{int(p[1]) + 1}",)
    return None
  table = {n: n for n in ("conv0", "dense1", "dense2")}
  return _module_tree(state_dict, _renamer(table, pattern, "SRGAN discriminator"))


# The original ESRGAN repository (xinntao/ESRGAN) names the same modules differently.
_OLD_ESRGAN_NAMES = {"RRDB_trunk": "body", "trunk_conv": "conv_body", "upconv1": "conv_up1",
                     "upconv2": "conv_up2", "HRconv": "conv_hr"}


def rrdbnet_variables(state_dict: dict) -> dict:
  """BasicSR's RRDBNet state_dict (conv_first, body.<n>.rdb<k>.conv<m>, conv_body, conv_up1,
  conv_up2, conv_hr, conv_last; BasicSR's {'params_ema': ...} checkpoints and the original
  repository's RRDB_trunk / RDB<k> / trunk_conv / upconv / HRconv names too) -> variables of
  srgan.RRDBNet."""
  def rename_key(k):
    head, _, rest = k.partition(".")
    head = _OLD_ESRGAN_NAMES.get(head, head)
    k = f"{head}.{rest}" if rest else head
    return k.replace(".RDB", ".rdb")
  sd = {rename_key(k): v for k, v in _unwrap(state_dict).items()}

  def pattern(p):
    if (len(p) == 4 and p[0] == "body" and p[1].isdigit() and p[2] in ("rdb1", "rdb2", "rdb3")
        and p[3] in tuple(f"conv{m}" for m in range(1, 6))):
      return (f"body_{p[1]}", p[2], p[3])
    return None
  table = {n: n for n in ("conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr",
                          "conv_last")}
  return _module_tree(sd, _renamer(table, pattern, "RRDBNet"))


def vgg_style_discriminator_variables(state_dict: dict) -> dict:
  """BasicSR's VGGStyleDiscriminator state_dict -> srgan.VGGStyleDiscriminator's."""
  names = {"conv0_0", "linear1", "linear2"}
  names |= {f"{kind}{lv}_{j}" for kind in ("conv", "bn") for lv in range(6) for j in (0, 1)}
  table = {n: n for n in names}
  return _module_tree(state_dict, _renamer(table, lambda p: None, "VGGStyleDiscriminator"))


def vgg19_variables(state_dict: dict, layer: str = "conv5_4") -> dict:
  """torchvision vgg19 state_dict -> vgg.VGG19Features(layer)'s variables."""
  from jaxgan.models import vgg
  return vgg.variables_from_state_dict(_unwrap(state_dict), layer)


# --- StyleGAN2 (NVIDIA stylegan2-ada-pytorch's names; benchmarks/torch_stylegan2.py) -------
# Keys as NVIDIA's Generator / Discriminator state_dicts (mapping.fc<i>, synthesis.b<res>.
# {const, conv0, conv1, torgb}[.affine], b<res>.{fromrgb, conv0, conv1, skip}, b4.{conv, fc,
# out}); their fixed buffers (FIR filters, constant noise maps) are left out. Unconditional
# networks only: a conditional model's embedding has no place in jaxgan's StyleGAN2.
_STYLEGAN2_BUFFERS = ("resample_filter", "noise_const")


def _stylegan2_field(node: dict, field: str, value: np.ndarray, key: str) -> None:
  """One leaf: a 4-D weight is a conv kernel, a 2-D one a dense kernel (transposed)."""
  if field == "weight":
    node["kernel"] = conv_kernel(value) if value.ndim == 4 else value.T
  elif field in ("bias", "noise_strength"):
    node[field] = value
  else:
    raise ValueError(f"unexpected state_dict entry {key!r}")


def _nested(tree: dict, path) -> dict:
  for part in path:
    tree = tree.setdefault(part, {})
  return tree


def stylegan2_generator_variables(state_dict: dict) -> dict:
  """A StyleGAN2 Generator's state_dict (NVIDIA's, or benchmarks/torch_stylegan2's) ->
  {'params', 'batch_stats': {'w_avg'}} for jaxgan.models.stylegan2.Generator."""
  params, stats = {}, {}
  for key, value in _unwrap(state_dict).items():
    p = key.split(".")
    value = np.array(value, dtype=np.float32)
    if p[-1] in _STYLEGAN2_BUFFERS:
      continue
    if p == ["mapping", "w_avg"]:
      stats["w_avg"] = value
    elif len(p) == 3 and p[0] == "mapping" and p[1].startswith("fc"):
      _stylegan2_field(_nested(params, ("mapping", p[1])), p[2], value, key)
    elif len(p) == 3 and p[0] == "synthesis" and p[2] == "const":
      params.setdefault("synthesis", {})["const"] = value.transpose(1, 2, 0)  # (C,4,4) -> HWC
    elif len(p) in (4, 5) and p[0] == "synthesis" and p[2] in ("conv0", "conv1", "torgb"):
      node = _nested(params, ("synthesis", f"{p[1]}_{p[2]}", *p[3:-1]))
      _stylegan2_field(node, p[-1], value, key)
    else:
      raise ValueError(f"not a StyleGAN2 generator key: {key!r}")
  return {"params": params, "batch_stats": stats}


def stylegan2_discriminator_variables(state_dict: dict) -> dict:
  """A StyleGAN2 Discriminator's state_dict -> {'params'} for stylegan2.Discriminator.
  The epilogue's dense layer reads the 4x4 map flattened NCHW (NVIDIA's); ours NHWC."""
  params = {}
  for key, value in _unwrap(state_dict).items():
    p = key.split(".")
    value = np.array(value, dtype=np.float32)
    if p[-1] in _STYLEGAN2_BUFFERS:
      continue
    if len(p) == 3 and p[0] == "b4" and p[1] in ("conv", "fc", "out"):
      if p[1] == "fc" and p[2] == "weight":  # (out, C*4*4) in (c, h, w) order -> (h, w, c)
        value = value.reshape(value.shape[0], -1, 4, 4).transpose(0, 2, 3, 1).reshape(
            value.shape[0], -1)
      _stylegan2_field(_nested(params, ("out" if p[1] == "out" else f"b4_{p[1]}",)), p[2],
                       value, key)
    elif len(p) == 3 and p[0].startswith("b") and p[1] == "fromrgb":
      _stylegan2_field(_nested(params, ("fromrgb",)), p[2], value, key)
    elif len(p) == 3 and p[0].startswith("b") and p[1] in ("conv0", "conv1", "skip"):
      _stylegan2_field(_nested(params, (p[0], p[1])), p[2], value, key)
    else:
      raise ValueError(f"not a StyleGAN2 discriminator key: {key!r}")
  return {"params": params}
