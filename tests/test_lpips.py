"""LPIPS (jaxgan.metrics.lpips) against the authors' `lpips` package: its distances, total
and per layer, for both trunks on square and non-square images (a stored fixture made by
tests/fixtures/make_lpips_fixture.py with seeded weights the test rebuilds); the weight
conversion from both layouts, embed's squared distance, and clear errors for bad weights."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.errors import UsageError
from jaxgan.metrics import lpips

from fixtures.make_lpips_fixture import NETS, SHAPES, seeded_state_dicts, to_unit
from helpers import REPO

FIXTURE = os.path.join(REPO, "tests", "fixtures", "lpips_reference.npz")


@pytest.fixture(scope="module")
def reference():
  return dict(np.load(FIXTURE))


@pytest.fixture(scope="module", params=NETS)
def seeded(request):
  net = request.param
  trunk, lin = seeded_state_dicts(net)
  return net, lpips.variables_from_state_dicts(trunk, lin)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[1]}x{s[2]}")
def test_matches_the_lpips_package(reference, seeded, shape):
  net, variables = seeded
  _, h, w = shape
  x, y = (jnp.asarray(to_unit(reference[f"{s}_{h}x{w}"])) for s in "xy")
  got = np.asarray(lpips.distance(variables, x, y, net))
  np.testing.assert_allclose(got, reference[f"{net}_{h}x{w}"], rtol=2e-5, atol=1e-7)
  # Per layer: each tap's weighted, spatially averaged squared difference.
  model = lpips.LPIPS(net)
  fx, fy = (model.apply(variables, a, method="taps") for a in (x, y))
  weights = [variables["params"][f"lin_{l}"] for l in range(5)]
  layers = np.stack([np.asarray(jnp.mean(jnp.sum(wl * (a - b) ** 2, -1), (1, 2)))
                     for a, b, wl in zip(fx, fy, weights)], 1)
  np.testing.assert_allclose(layers, reference[f"{net}_{h}x{w}_layers"], rtol=2e-5, atol=1e-8)


def test_embed_squared_distance_is_lpips(seeded):
  net, variables = seeded
  key1, key2 = jax.random.split(jax.random.PRNGKey(3))
  x = jax.random.uniform(key1, (2, 40, 48, 3), minval=-1, maxval=1)
  y = jax.random.uniform(key2, (2, 40, 48, 3), minval=-1, maxval=1)
  model = lpips.LPIPS(net)
  ex, ey = (model.apply(variables, a, method="embed") for a in (x, y))
  np.testing.assert_allclose(np.sum((ex - ey) ** 2, -1), lpips.distance(variables, x, y, net),
                             rtol=1e-5)


def test_identity_grey_and_gradients():
  trunk, lin = seeded_state_dicts("alex")
  variables = lpips.variables_from_state_dicts(trunk, lin)
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 64, 64, 1), minval=-1, maxval=1)
  np.testing.assert_array_equal(lpips.distance(variables, x, x, "alex"), 0.0)
  y = jnp.flip(x, 1)
  grey = lpips.distance(variables, x, y, "alex")
  rgb = lpips.distance(variables, jnp.repeat(x, 3, -1), jnp.repeat(y, 3, -1), "alex")
  np.testing.assert_allclose(grey, rgb, rtol=1e-6)
  assert np.all(np.asarray(grey) > 0)
  # A black image switches many ReLUs off at once: the gradient stays finite.
  black = -jnp.ones((1, 64, 64, 3))
  g = jax.grad(lambda a: lpips.distance(variables, a, black, "alex").sum())(black + 0.01)
  assert np.all(np.isfinite(np.asarray(g)))


def test_lpips_module_layout_and_inference():
  """An lpips.LPIPS state_dict (net.slice<k>.<i>.*, lin<l>.model.1.weight, lins.* copies)
  converts to the same variables as torchvision's features.<i>.* plus the lin file."""
  from fixtures.make_lpips_fixture import _slice_key
  for net in NETS:
    trunk, lin = seeded_state_dicts(net)
    module = {f"{_slice_key(net, int(k.split('.')[1]))}.{k.split('.')[2]}": v
              for k, v in trunk.items()}
    module.update(lin)
    module.update({k.replace("lin", "lins.", 1): v for k, v in lin.items()})
    module["scaling_layer.shift"] = np.zeros((1, 3, 1, 1), np.float32)
    assert lpips.infer_net(module) == lpips.infer_net(trunk) == net
    a = lpips.variables_from_state_dicts(trunk, lin)
    b = lpips.variables_from_state_dicts(module, module)
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def test_bad_weights_are_refused():
  trunk, lin = seeded_state_dicts("alex")
  negative = dict(lin, **{"lin2.model.1.weight": -lin["lin2.model.1.weight"]})
  with pytest.raises(ValueError, match="lin2 has negative weights"):
    lpips.variables_from_state_dicts(trunk, negative)
  with pytest.raises(ValueError, match="no lin4"):
    lpips.variables_from_state_dicts(trunk, {k: v for k, v in lin.items() if "lin4" not in k})
  with pytest.raises(ValueError, match="features.8"):
    lpips.variables_from_state_dicts({k: v for k, v in trunk.items() if ".8." not in k}, lin)
  vgg_trunk, _ = seeded_state_dicts("vgg")
  with pytest.raises(ValueError, match=r"lin0.model.1.weight: shape \(32,\)"):
    lpips.variables_from_state_dicts(vgg_trunk, {**lin, "lin0.model.1.weight":
                                                 np.ones((1, 32, 1, 1), np.float32)}, "vgg")
  with pytest.raises(ValueError, match="not an AlexNet or VGG16"):
    lpips.infer_net({"conv.weight": np.zeros((4, 3, 5, 5))})
  with pytest.raises(UsageError, match="no such file"):
    lpips.load("/nonexistent/alexnet.pth")


def test_load_reads_pth_files(tmp_path):
  """torchvision's trunk file plus the package's lin file, as torch.save writes them."""
  torch = pytest.importorskip("torch")
  trunk, lin = seeded_state_dicts("alex")
  trunk_path, lin_path = tmp_path / "alexnet.pth", tmp_path / "alex_lin.pth"
  torch.save({k: torch.from_numpy(v) for k, v in trunk.items()}, trunk_path)
  torch.save({k: torch.from_numpy(v) for k, v in lin.items()}, lin_path)
  net, variables = lpips.load(str(trunk_path), str(lin_path))
  assert net == "alex"
  jax.tree_util.tree_map(np.testing.assert_array_equal, variables,
                         lpips.variables_from_state_dicts(trunk, lin))
  if lpips.packaged_lin_path("alex") is None:
    with pytest.raises(UsageError, match="no LPIPS lin weights"):
      lpips.load(str(trunk_path))


def test_smallest_images_each_net_takes(tmp_path):
  """MIN_SIZE is the smallest side whose deepest tap is not empty: one pixel less is
  refused in one line (a silent mean over an empty map would be NaN)."""
  from fixtures.make_lpips_fixture import write_seeded_npz
  for net in NETS:
    write_seeded_npz(tmp_path / f"{net}.npz", net)
    dist = lpips.Distance.from_files(str(tmp_path / f"{net}.npz"))
    side = lpips.MIN_SIZE[net]
    a = np.random.default_rng(0).integers(0, 256, (1, side, side + 5, 3), dtype=np.uint8)
    b = np.random.default_rng(1).integers(0, 256, (1, side, side + 5, 3), dtype=np.uint8)
    value = dist(a, b)
    assert value.shape == (1,) and np.isfinite(value[0]) and value[0] > 0
    last = lpips.LPIPS(net).apply(dist.variables, jnp.asarray(a[:, :side, :side], jnp.float32),
                                  method="taps")[-1]
    assert min(last.shape[1:3]) == 1, net
    with pytest.raises(UsageError, match=f"at least {side} pixels a side; these are {side - 1}"):
      dist(a[:, 1:], b[:, 1:])


def test_convert_merges_trunk_and_lin_into_one_npz(tmp_path, capsys):
  """`jaxgan convert lpips`: separate trunk and lin files (here .npz, so no torch) -> one
  .npz that loads to the same variables; bad output names are refused before writing."""
  from jaxgan import cli
  trunk, lin = seeded_state_dicts("alex")
  np.savez(tmp_path / "trunk.npz", classifier_dropped=np.zeros(1), **trunk)
  np.savez(tmp_path / "lin.npz", **lin)
  out = tmp_path / "alex_lpips.npz"
  assert cli.main(["convert", "lpips", "--trunk", str(tmp_path / "trunk.npz"),
                   "--lin", str(tmp_path / "lin.npz"), "--out", str(out)]) == 0
  assert "LPIPS (alex)" in capsys.readouterr().out
  with np.load(out) as f:
    assert sorted(f.files) == sorted([*trunk, *lin])
  net, variables = lpips.load(str(out))
  assert net == "alex"
  jax.tree_util.tree_map(np.testing.assert_array_equal, variables,
                         lpips.variables_from_state_dicts(trunk, lin))
  assert cli.main(["convert", "lpips", "--trunk", str(tmp_path / "trunk.npz"),
                   "--lin", str(tmp_path / "lin.npz"), "--out", str(tmp_path / "x.pth")]) == 2
  assert "--out must name a .npz file" in capsys.readouterr().err
  if lpips.packaged_lin_path("alex") is None:
    assert cli.main(["convert", "lpips", "--trunk", str(tmp_path / "trunk.npz"),
                     "--out", str(tmp_path / "y.npz")]) == 2
    assert "holds no LPIPS lin weights" in capsys.readouterr().err
  assert not (tmp_path / "x.pth").exists() and not (tmp_path / "y.npz").exists()
