"""The Flax FID Inception equals pytorch-fid's and torch-fidelity's (fixture from
scripts/export_inception_reference.py), without torch: the stand-in weights are rebuilt
from the fixture's seed with NumPy and go through the converter's NumPy core."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgan import cli
from jaxgan.errors import UsageError
from jaxgan.models import inception, inception_convert

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "inception_fid_reference.npz")
RTOL = 1e-4  # of the largest magnitude in each compared array (pool3 has many near-zero entries)
MODES = ("pytorch_fid", "tf1")
BATCH = 8    # the network's one compiled batch size in this file (6 fixture rows + 2 repeats)


def assert_close(ours, ref, rtol=RTOL):
  ours, ref = np.asarray(ours), np.asarray(ref)
  scale = np.abs(ref).max()
  err = np.abs(ours - ref).max() / scale
  assert err <= rtol, f"max |ours - ref| / max |ref| = {err:.2e} > {rtol:.0e}"


@pytest.fixture(scope="module")
def ref():
  with np.load(FIXTURE) as data:
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def state_dict(ref):
  state = inception_convert.random_torch_state_dict(int(ref["seed"]))
  assert inception_convert.fingerprint(state) == str(ref["weights_sha256"]), (
      "NumPy generated other weights than those the fixture was exported with")
  return state


@pytest.fixture(scope="module")
def weights(state_dict):
  return jax.device_put(inception_convert.variables_from_torch(state_dict))


def _shard_batch(x):
  """Spreads the batch over the 8 simulated devices (conftest), as a caller's mesh would."""
  devices = jax.devices()
  if len(devices) < BATCH:
    return x
  return jax.device_put(x, NamedSharding(Mesh(np.array(devices[:BATCH]), ("batch",)), P("batch")))


@pytest.fixture(scope="module")
def network_outputs(ref, weights):
  """Both references' preprocessing of the 3 fixture images, through the network at once."""
  rows = [inception._preprocess(ref[f"image{i}"], mode) for mode in MODES for i in range(3)]
  rows += rows[:BATCH - len(rows)]
  return inception.apply_network(weights, _shard_batch(jnp.concatenate(rows)))


@pytest.mark.parametrize("mode", MODES)
def test_matches_references(ref, network_outputs, mode):
  """pool3 and unbiased logits match pytorch-fid ("pytorch_fid") and torch-fidelity ("tf1")."""
  rows = slice(3 * MODES.index(mode), 3 * MODES.index(mode) + 3)
  pool3, logits = (np.asarray(a)[rows] for a in network_outputs)
  assert_close(pool3, ref[f"{mode}/pool3"])
  assert_close(logits, ref[f"{mode}/logits"])
  assert np.abs(pool3).max() > 0.1 and pool3.std(axis=1).min() > 0.05  # not degenerate


def test_fixture_tells_the_resizes_apart(ref, network_outputs):
  """The two conventions differ far beyond the tolerance, so the comparison above can fail."""
  pool3 = np.asarray(network_outputs[0])
  for image in range(3):
    theirs = ref["tf1/pool3"][image]
    err = np.abs(pool3[image] - theirs).max() / np.abs(theirs).max()
    assert err > 100 * RTOL, (image, err)


def test_public_api_sharded(ref, weights, network_outputs):
  """inception_features on a batch sharded over 8 devices: stays sharded, same numbers."""
  images = _shard_batch(np.repeat(ref["image1"], BATCH, axis=0))
  pool3, logits = inception.inception_features(weights, images)
  assert pool3.shape == (BATCH, inception.NUM_FEATURES)
  assert logits.shape == (BATCH, inception.NUM_CLASSES)
  if len(jax.devices()) >= BATCH:
    assert len(pool3.sharding.device_set) == BATCH and pool3.sharding.spec[0] == "batch"
  for row in range(BATCH):
    assert_close(pool3[row], ref["pytorch_fid/pool3"][1])
    assert_close(logits[row], ref["pytorch_fid/logits"][1])


def test_preprocess_inputs():
  rng = np.random.default_rng(0)
  u8 = rng.integers(0, 256, (2, 13, 17, 3), dtype=np.uint8)
  for mode in MODES:
    from_u8 = inception.preprocess_images(jnp.asarray(u8), mode)
    assert from_u8.shape == (2, 299, 299, 3) and from_u8.dtype == jnp.float32
    np.testing.assert_allclose(inception.preprocess_images(jnp.asarray(u8 / 255.0), mode),
                               from_u8, atol=1e-5)
    grey = inception.preprocess_images(jnp.asarray(u8[..., :1]), mode)
    np.testing.assert_array_equal(grey, inception.preprocess_images(jnp.asarray(
        np.repeat(u8[..., :1], 3, axis=-1)), mode))
  # A 299x299 image is not resampled, only rescaled: pytorch-fid's 2x - 1, TF's (x - 128) / 128.
  full = rng.integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
  np.testing.assert_allclose(inception.preprocess_images(jnp.asarray(full), "pytorch_fid"),
                             2 * (full / 255.0) - 1, atol=1e-6)
  np.testing.assert_allclose(inception.preprocess_images(jnp.asarray(full), "tf1"),
                             (full - 128.0) / 128, atol=1e-6)


@pytest.mark.parametrize("n_in", [1, 32, 37, 299, 512])
@pytest.mark.parametrize("mode", MODES)
def test_resize_weights(n_in, mode):
  """Each output pixel mixes at most two neighbouring inputs with weights summing to one."""
  m = inception._resize_matrix(n_in, 299, mode)
  np.testing.assert_allclose(m.sum(axis=1), 1, atol=1e-6)
  assert ((m > 0).sum(axis=1) <= 2).all() and (m >= 0).all()
  if mode == "tf1":  # TF1 samples output pixel 0 at input pixel 0 exactly
    assert m[0, 0] == 1


@pytest.mark.parametrize("images, preprocess", [
    (np.zeros((2, 8, 8, 4), np.uint8), "pytorch_fid"),
    (np.zeros((8, 8, 3), np.uint8), "pytorch_fid"),
    (np.zeros((1, 8, 8, 3), np.int32), "pytorch_fid"),
    (np.zeros((1, 8, 8, 3), np.uint8), "antialiased"),
])
def test_bad_inputs_raise_usage_error(images, preprocess):
  with pytest.raises(UsageError):
    inception.inception_features({}, images, preprocess=preprocess)


def test_converter_checks_the_state_dict(state_dict):
  tree = inception_convert.variables_from_torch(
      {**state_dict, "Conv2d_1a_3x3.bn.num_batches_tracked": np.array(0)})  # ignored
  assert tree["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"].shape == (1, 1, 2048, 192)
  assert tree["params"]["fc"]["kernel"].shape == (2048, 1008)
  np.testing.assert_array_equal(tree["batch_stats"]["Mixed_5b"]["branch1x1"]["bn"]["var"],
                                state_dict["Mixed_5b.branch1x1.bn.running_var"])
  np.testing.assert_array_equal(tree["params"]["Conv2d_2a_3x3"]["conv"]["kernel"][1, 2, 3, 4],
                                state_dict["Conv2d_2a_3x3.conv.weight"][4, 3, 1, 2])
  missing = dict(state_dict)
  del missing["fc.bias"]
  wrong = {**state_dict, "fc.weight": np.zeros((1000, 2048), np.float32)}  # torchvision's classes
  extra = {**state_dict, "AuxLogits.fc.weight": np.zeros((1000, 768), np.float32)}
  for bad, message in ((missing, "missing fc.bias"), (wrong, "fc.weight has shape"),
                       (extra, "unexpected AuxLogits")):
    with pytest.raises(UsageError, match=message):
      inception_convert.variables_from_torch(bad)


def test_load_inception_errors(tmp_path, monkeypatch):
  monkeypatch.setenv(inception.WEIGHTS_ENV, str(tmp_path / "absent.npz"))
  with pytest.raises(UsageError, match="pt_inception-2015-12-05-6726825d.pth.*jaxgan convert "
                                       "inception"):
    inception.load_inception()
  foreign = tmp_path / "foreign.npz"
  np.savez(foreign, x=np.zeros(3))
  with pytest.raises(UsageError, match="not a jaxgan FID Inception file"):
    inception.load_inception(str(foreign))


def test_cli_convert_round_trip(tmp_path, state_dict, monkeypatch, capsys):
  """`jaxgan convert inception` writes the file that load_inception() finds by default."""
  torch = pytest.importorskip("torch")
  pth = tmp_path / "weights.pth"
  torch.save({k: torch.from_numpy(v) for k, v in state_dict.items()}, pth)
  out = tmp_path / "cache" / "inception_fid.npz"
  monkeypatch.setenv(inception.WEIGHTS_ENV, str(out))
  assert cli.main(["convert", "inception", "--pth", str(pth)]) == 0
  assert "not pytorch-fid's" in capsys.readouterr().err  # random weights, other digest
  loaded = inception.load_inception()
  expected = inception_convert.variables_from_torch(state_dict)
  for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(a, b)
  assert cli.main(["convert", "inception", "--pth", str(tmp_path / "none.pth")]) == 2
  assert cli.main(["convert", "inception", "--pth", str(pth), "--out", "x.msgpack"]) == 2


# torch-fidelity's tests/tf1/numerical_precision/test_metric_fid_fidelity.py asserts this.
TORCH_FIDELITY_CIFAR10_FID = 10.3233274


@pytest.mark.slow
def test_fid_cifar10_train_vs_test_matches_torch_fidelity():
  """FID(first 5,000 CIFAR-10 train images, first 5,000 test images) = 10.3233 (torch-fidelity).

  torch-fidelity's test dumps the first 5,000 images of torchvision's CIFAR10(train=True)
  and of CIFAR10(train=False) (dataset order: data_batch_1 then 2 ... for train,
  test_batch for test) to PNG folders with utils/util_dump_dataset_as_images.py, runs
  `fidelity --fid --input1 TRAIN_DIR --input2 TEST_DIR` with its default Inception
  feature extractor (TF1 bilinear resize to 299x299 of the uint8 images, (x - 128) / 128,
  pool3 2048 features, float32), and checks the result against TTUR's TensorFlow FID to
  1e-5 relative and against 10.3233274 to 1e-4. TFDS's cifar10 is built from the same
  binary batches in the same order and numbers its examples "train_00000".."train_49999"
  and "test_00000".."test_09999", so ids below 5000 select the same images (the TFDS
  files themselves are shuffled; FID does not depend on order). We use preprocess="tf1".

  Needs the converted weights (load_inception's default place) and a prepared TFDS
  cifar10 ($TFDS_DATA_DIR or ~/tensorflow_datasets); hours on a 2-core CPU, seconds on
  an accelerator.
  """
  try:
    weights = inception.load_inception()
  except UsageError as e:
    pytest.skip(f"FID Inception weights absent: {e}")
  tfds = pytest.importorskip("tensorflow_datasets")
  builder = tfds.builder("cifar10", data_dir=os.environ.get("TFDS_DATA_DIR"))
  if not builder.is_prepared():
    pytest.skip(f"TFDS cifar10 is not prepared in {builder.data_dir_root}")
  from jaxgan.metrics import frechet  # written beside this test; imported only when it runs

  def first_5000_features(split, prefix):
    images = [None] * 5000
    for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
      index = int(ex["id"].decode()[len(prefix):])
      if index < 5000:
        images[index] = ex["image"]
    batches = np.stack(images).reshape(50, 100, 32, 32, 3)
    return np.concatenate([np.asarray(inception.inception_features(weights, b, preprocess="tf1")[0],
                                      np.float64) for b in batches])

  train, test = first_5000_features("train", "train_"), first_5000_features("test", "test_")
  fid = frechet.frechet_distance_features(train, test)
  assert abs(fid - TORCH_FIDELITY_CIFAR10_FID) < 1e-3, fid
