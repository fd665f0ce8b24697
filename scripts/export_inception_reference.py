"""Exports pytorch-fid's and torch-fidelity's FID Inception outputs as a test fixture.

Both references run with the same stand-in weights, `random_torch_state_dict(SEED)` from
jaxgan.models.inception_convert (the real .pth cannot be downloaded in CI, and need not
be: the test checks the network and the preprocessing, not the weights). The fixture
stores the seed and a fingerprint of the weights, never the weights; the test rebuilds
them from the seed with NumPy alone.

Three uint8 images exercise the resize: 64x64 and 37x53 (upsampling, non-square) and
317x303 (shrinking, where an antialiasing filter would show; it holds one-pixel stripes).
  - "pytorch_fid": pytorch_fid.inception.InceptionV3 (the FID network, blocks up to pool3)
    on ToTensor-style x / 255; logits = pool3 @ fc.weight.T of the same fid_inception_v3.
  - "tf1": torch_fidelity's FeatureExtractorInceptionV3 on the uint8 images, features
    "2048" and "logits_unbiased".

Neither tool is a jaxgan dependency; install them somewhere throwaway, e.g.
  pip install --no-deps --target /tmp/pfid pytorch-fid torch-fidelity torchvision==<for your torch>
  PYTHONPATH=/tmp/pfid python scripts/export_inception_reference.py
which writes tests/fixtures/inception_fid_reference.npz, read by tests/test_inception.py.
"""

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import types

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from jaxgan.models import inception_convert  # noqa: E402

SEED = 20151205


def _import_torchvision_models_only() -> None:
  """Makes `import torchvision.models` work when torchvision's compiled ops cannot load.

  PyPI's Linux torchvision wheels link against CUDA builds of torch; beside a CPU torch
  its package __init__ fails while registering ops. The Inception definitions are pure
  Python, so we skip that __init__ and import the subpackage directly.
  """
  try:
    importlib.import_module("torchvision")
  except Exception:  # noqa: BLE001 - any failure of the compiled part
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
      del sys.modules[name]
    spec = importlib.util.find_spec("torchvision")
    pkg = types.ModuleType("torchvision")
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__version__ = importlib.metadata.version("torchvision")
    sys.modules["torchvision"] = pkg


def make_images(seed: int) -> list[np.ndarray]:
  """Three (1, H, W, 3) uint8 images: noise 64x64, noise 37x53, blocks + stripes 317x303."""
  rng = np.random.default_rng(seed)
  small = [rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8) for h, w in ((64, 64), (37, 53))]
  blocks = rng.integers(0, 256, (1, 40, 38, 3), dtype=np.uint8)
  big = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)[:, :317, :303].copy()
  big[:, 100:220, 50:250] = np.where(np.arange(200) % 2, 255, 0)[None, None, :, None]
  return small + [big]


def export(path: str, seed: int = SEED) -> None:
  import torch
  _import_torchvision_models_only()
  from pytorch_fid import inception as pfid
  from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

  state = inception_convert.random_torch_state_dict(seed)
  torch_state = {k: torch.from_numpy(v) for k, v in state.items()}
  pfid.load_state_dict_from_url = lambda *args, **kwargs: torch_state  # no download
  net = pfid.InceptionV3(output_blocks=(3,)).eval()
  fc_weight = pfid.fid_inception_v3().fc.weight.detach()
  with tempfile.TemporaryDirectory() as tmp:
    pth = os.path.join(tmp, "weights.pth")
    torch.save(torch_state, pth)
    fidelity = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                           feature_extractor_weights_path=pth)

  images = make_images(seed)
  out = {"seed": np.array(seed), "weights_sha256": np.array(inception_convert.fingerprint(state))}
  feats = {"pytorch_fid/pool3": [], "pytorch_fid/logits": [], "tf1/pool3": [], "tf1/logits": []}
  with torch.no_grad():
    for i, image in enumerate(images):
      out[f"image{i}"] = image
      nchw = torch.from_numpy(image).permute(0, 3, 1, 2).contiguous()
      pool3 = net(nchw.float() / 255)[0][:, :, 0, 0]
      feats["pytorch_fid/pool3"].append(pool3.numpy())
      feats["pytorch_fid/logits"].append(pool3.mm(fc_weight.T).numpy())
      pool3, logits = fidelity(nchw)
      feats["tf1/pool3"].append(pool3.numpy())
      feats["tf1/logits"].append(logits.numpy())
  out.update({k: np.concatenate(v) for k, v in feats.items()})
  out["versions"] = np.array(f"torch {torch.__version__}, pytorch-fid "
                             f"{importlib.metadata.version('pytorch-fid')}, torch-fidelity "
                             f"{importlib.metadata.version('torch-fidelity')}")
  np.savez_compressed(path, **out)
  print(f"wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB; {out['versions']})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                    "fixtures", "inception_fid_reference.npz"))
  parser.add_argument("--seed", type=int, default=SEED)
  args = parser.parse_args()
  export(os.path.normpath(args.out), seed=args.seed)
