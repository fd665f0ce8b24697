"""The Flax SR networks and step equal the PyTorch references (fixture from
scripts/export_srgan_torch_reference.py: SRResNet / SRGAN D per the paper, BasicSR's
RRDBNet / VGGStyleDiscriminator / VGG19 features and optimize_parameters; no torch needed)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses
from jaxgan.models import srgan, torch_import, vgg
from jaxgan.train import superres_step
from jaxgan.train.state import GANDef, GANState, NetState
from helpers import load_fixture, fixture_group as _state, assert_close_scaled as _close

FIXTURE = "srgan_torch_reference.npz"
IMPLS = ["lax", "rearranged"]
VGG_DIV = 16
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def ref():
  return load_fixture(FIXTURE)


def _img(codes):
  return codes.astype(np.float32) / np.float32(127.5) - np.float32(1)


def _nets(impl):
  return dict(
      sg=(srgan.SRResNet(scale=4, width=4, num_blocks=2, conv_impl=impl),
          torch_import.srresnet_variables),
      sd=(srgan.SRGANDiscriminator(image_size=24, width=4, dense_width=16, conv_impl=impl),
          torch_import.srgan_discriminator_variables),
      eg=(srgan.RRDBNet(scale=4, num_feat=8, num_block=1, num_grow_ch=4, conv_impl=impl),
          torch_import.rrdbnet_variables),
      ed=(srgan.VGGStyleDiscriminator(image_size=128, num_feat=2, conv_impl=impl),
          torch_import.vgg_style_discriminator_variables))


def _apply(module, variables, x, train):
  fn = lambda v, x: module.apply(v, x, train=train, mutable=["batch_stats"])
  return jax.jit(fn)(variables, x)


def _check_running_stats(mutated, expected):
  for (path, got), want in zip(jax.tree_util.tree_flatten_with_path(mutated)[0],
                               jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, err_msg=jax.tree_util.keystr(path), **TOL)
  assert jax.tree.structure(mutated) == jax.tree.structure(expected)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("name,x_key", [("sg", "lr_s"), ("sd", "hr_s"), ("ed", "hr_e")])
def test_batch_norm_networks_match_pytorch(ref, impl, train, name, x_key):
  module, to_flax = _nets(impl)[name]
  out, mutated = _apply(module, to_flax(_state(ref, name)), _img(ref[x_key]), train)
  _close(out, ref[f"{name}_{'train' if train else 'eval'}"])
  if train:
    after = to_flax({**_state(ref, name), **_state(ref, f"{name}_after")})
    _check_running_stats(mutated["batch_stats"], after["batch_stats"])


@pytest.mark.parametrize("impl", IMPLS)
def test_rrdbnet_matches_pytorch(ref, impl):
  module, to_flax = _nets(impl)["eg"]
  out = jax.jit(lambda v, x: module.apply(v, x))(to_flax(_state(ref, "eg")),
                                                 _img(ref["lr_e"][:, :16, :16]))
  _close(out, ref["eg_out"])


@pytest.mark.parametrize("layer", ["conv5_4", "relu5_4"])
def test_vgg19_features_match_pytorch(ref, layer):
  variables = torch_import.vgg19_variables(_state(ref, "vgg"), layer)
  net = vgg.VGG19Features(layer, width_divisor=VGG_DIV)
  out = jax.jit(net.apply)(variables, _img(ref["hr_s"]))
  _close(out, ref[f"vgg_{layer}"])


def test_imported_trees_match_flax_init(ref):
  """Every Flax variable is filled by the import, with its shape, and nothing else."""
  dummies = dict(sg=(1, 6, 6, 3), sd=(1, 24, 24, 3), eg=(1, 8, 8, 3), ed=(1, 128, 128, 3))
  for name, (module, to_flax) in _nets("lax").items():
    init = jax.eval_shape(lambda x, m=module: m.init(jax.random.PRNGKey(0), x, train=False),
                          jnp.zeros(dummies[name]))
    variables = to_flax(_state(ref, name))
    assert jax.tree.structure(init) == jax.tree.structure(variables), name
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(variables)):
      assert a.shape == b.shape, name
  init = jax.eval_shape(lambda: vgg.init_variables("conv5_4", jax.random.PRNGKey(0), VGG_DIV))
  variables = torch_import.vgg19_variables(_state(ref, "vgg"))
  assert jax.tree.structure(init) == jax.tree.structure(variables)


def test_rrdbnet_import_reads_basicsr_and_original_checkpoints(ref):
  sd = _state(ref, "eg")
  plain = torch_import.rrdbnet_variables(sd)
  for wrapped in ({"params_ema": sd}, {f"module.{k}": v for k, v in sd.items()}):
    same = jax.tree.map(np.array_equal, plain, torch_import.rrdbnet_variables(wrapped))
    assert jax.tree.all(same)
  old_names = {"body": "RRDB_trunk", "conv_body": "trunk_conv", "conv_up1": "upconv1",
               "conv_up2": "upconv2", "conv_hr": "HRconv"}
  old = {}
  for k, v in sd.items():
    head, _, rest = k.partition(".")
    old[".".join([old_names.get(head, head), rest]).replace(".rdb", ".RDB")] = v
  assert jax.tree.all(jax.tree.map(np.array_equal, plain, torch_import.rrdbnet_variables(old)))
  with pytest.raises(ValueError):
    torch_import.rrdbnet_variables(_state(ref, "ed"))
  with pytest.raises(ValueError):
    torch_import.srresnet_variables(sd)


def test_parameter_counts_match_pytorch_at_full_size(ref):
  def count(module, shape):
    shapes = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, train=False),
                            jax.ShapeDtypeStruct(shape, jnp.float32))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))

  assert count(srgan.SRResNet(), (1, 24, 24, 3)) == int(ref["count/srresnet"]) == 1_547_350
  assert count(srgan.SRGANDiscriminator(), (1, 96, 96, 3)) == int(ref["count/srgan_d96"])
  assert count(srgan.RRDBNet(), (1, 16, 16, 3)) == int(ref["count/rrdbnet_x4"]) == 16_697_987
  assert count(srgan.VGGStyleDiscriminator(), (1, 128, 128, 3)) == int(ref["count/vgg_d128"])
  shapes = jax.eval_shape(lambda: vgg.init_variables("conv5_4", jax.random.PRNGKey(0)))
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes)) == \
      int(ref["count/vgg19_conv5_4"]) == 20_024_384


def _check_adam_move(got, want, lr, what):
  """Adam's first move is lr * g / (|g| + eps): ~lr * sign(g) (checked to 1% of lr), except
  where |g| is within ~100 eps = 1e-6 of zero, where it amplifies the gradient's float32
  round-off (a relative 1e-5 on g of 1e-8 moves it by ~1% of lr): 5% of lr there."""
  saturated = np.abs(want) > 0.99 * lr
  np.testing.assert_allclose(got[saturated], want[saturated], rtol=0, atol=0.01 * lr,
                             err_msg=what)
  np.testing.assert_allclose(got[~saturated], want[~saturated], rtol=0, atol=0.05 * lr,
                             err_msg=what)


def _net_state(variables, tx):
  return NetState(params=variables["params"], batch_stats=variables.get("batch_stats", {}),
                  opt_state=tx.init(variables["params"]))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", ["srgan", "esrgan"])
def test_one_training_step_matches_pytorch(ref, impl, kind):
  """superres_train_step from the fixture's weights = BasicSR's optimize_parameters: the
  losses, every parameter's Adam update, every running statistic."""
  g_name, d_name = ("sg", "sd") if kind == "srgan" else ("eg", "ed")
  nets = _nets(impl)
  (g, g_flax), (d, d_flax) = nets[g_name], nets[d_name]
  s = lambda k: ref[f"settings/{kind}/{k}"]
  lr, (b1, b2) = float(s("lr")), (float(b) for b in s("betas"))
  if kind == "srgan":
    o = superres_step.SROptions(pixel_loss="mse", pixel_weight=float(s("pixel_weight")),
                                perceptual_layer="relu5_4", perceptual_criterion="mse",
                                perceptual_weight=float(s("perceptual_weight")),
                                adv_weight=float(s("adv_weight")), relativistic=False,
                                perceptual_width_divisor=VGG_DIV)
    lq, gt = _img(ref["lr_s"]), _img(ref["hr_s"])
  else:  # BasicSR's [0, 1] L1 weight is half as much on [-1, 1]
    o = dataclasses.replace(superres_step.PRESETS["esrgan"],
                            pixel_weight=float(s("pixel_weight")) / 2,
                            perceptual_width_divisor=VGG_DIV)
    assert o.pixel_weight == 5e-3
    lq, gt = _img(ref["lr_e"]), _img(ref["hr_e"])
  g_tx, d_tx = optax.adam(lr, b1, b2), optax.adam(lr, b1, b2)
  gan = GANDef(generator=g, discriminator=d, g_tx=g_tx, d_tx=d_tx,
               d_loss=losses.minimax_d_loss, g_loss=losses.non_saturating_g_loss, superres=o)
  g0, d0 = g_flax(_state(ref, g_name)), d_flax(_state(ref, d_name))
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(0),
                   g=_net_state(g0, g_tx), d=_net_state(d0, d_tx),
                   extras={"perceptual": torch_import.vgg19_variables(_state(ref, "vgg"),
                                                                      o.perceptual_layer)})
  new, m = jax.jit(functools.partial(superres_step.superres_train_step, gan=gan))(
      state, {"input": lq, "image": gt})

  t = lambda k: ref[f"{kind}/terms/{k}"]
  np.testing.assert_allclose(m["d_loss"], ref[f"{kind}/d_loss"], rtol=1e-5)
  np.testing.assert_allclose(m["g_total"], ref[f"{kind}/g_loss"], rtol=1e-5)
  np.testing.assert_allclose(o.pixel_weight * m["g_pixel"], t("l_g_pix"), rtol=1e-5)
  np.testing.assert_allclose(o.perceptual_weight * m["g_perceptual"], t("l_g_percep"), rtol=1e-5)
  np.testing.assert_allclose(o.adv_weight * m["g_loss"], t("l_g_gan"), rtol=1e-5)
  assert new.extras is state.extras or jax.tree.all(
      jax.tree.map(np.array_equal, new.extras, state.extras))
  for prefix, before, after, to_flax in ((f"{kind}_g", g0, new.g, g_flax),
                                         (f"{kind}_d", d0, new.d, d_flax)):
    expected = to_flax(_state(ref, prefix))
    # Adam's first step moves each weight by ~lr * sign(grad): compare the moves, to 1% of lr.
    moved = jax.tree.map(lambda a, b: np.asarray(a) - b, after.params, before["params"])
    want = jax.tree.map(lambda a, b: a - b, expected["params"], before["params"])
    for (path, got), exp in zip(jax.tree_util.tree_flatten_with_path(moved)[0],
                                jax.tree.leaves(want)):
      _check_adam_move(got, exp, lr, f"{prefix} {jax.tree_util.keystr(path)}")
    assert max(float(np.abs(x).max()) for x in jax.tree.leaves(want)) > 0.5 * lr
    if "batch_stats" in expected:
      _check_running_stats(after.batch_stats, expected["batch_stats"])
