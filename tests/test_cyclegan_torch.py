"""The Flax CycleGAN networks equal the authors' PyTorch ones (fixture from
scripts/export_cyclegan_torch_reference.py; no torch needed here)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import cyclegan, pix2pix, torch_import
from helpers import load_fixture, fixture_group as _state, assert_close_scaled as _close

FIXTURE = "cyclegan_torch_reference.npz"
IMPLS = ["lax", "rearranged"]
NETS = ("g_a", "g_b", "d_a", "d_b")
G_TERMS = ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B")


@pytest.fixture(scope="module")
def ref():
  return load_fixture(FIXTURE)


def _generator(ref, impl="auto"):
  return cyclegan.ResnetGenerator(channels=3, width=int(ref["width"]),
                                  num_blocks=int(ref["n_blocks"]), norm="instance",
                                  conv_impl=impl)


def _discriminator(ref, impl="auto"):
  return pix2pix.PatchDiscriminator(channels=3, width=int(ref["width"]), num_layers=3,
                                    norm="instance", conv_impl=impl)


def _pair(ref, impl):
  return cyclegan.build(channels_a=3, channels_b=3, width_g=int(ref["width"]), width_d=int(ref["width"]),
                        num_blocks=int(ref["n_blocks"]), norm="instance", d_layers=3,
                        dropout=0.0, dtype=jnp.float32, bn_axis_name=None, conv_impl=impl)


def _variables(ref, prefix=""):
  return torch_import.cyclegan_variables(*(_state(ref, prefix + n) for n in NETS))


def _run(module, variables, x, train, method=None):
  return jax.jit(lambda v, x: module.apply(v, x, train=train, method=method))(variables, x)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
def test_generators_match_pytorch(ref, impl, train):
  """Each ResnetGenerator (reflection pads, stride-2 convs, residual blocks, transposed
  convs with output_padding 1, InstanceNorm, every conv biased) on its own domain."""
  g = _generator(ref, impl)
  for name, x in (("g_a", ref["a"]), ("g_b", ref["b"])):
    variables = torch_import.cyclegan_generator_variables(_state(ref, name))
    _close(_run(g, variables, x, train), ref[f"{name}_out"])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("train", [False, True])
def test_discriminators_match_pytorch(ref, impl, train):
  """The InstanceNorm PatchGAN on 3-channel images: D_A judges b, D_B judges a."""
  d = _discriminator(ref, impl)
  for name, x in (("d_a", ref["b"]), ("d_b", ref["a"])):
    variables = torch_import.pix2pix_discriminator_variables(_state(ref, name))
    _close(_run(d, variables, x, train), ref[f"{name}_logits"])


@pytest.mark.parametrize("impl", IMPLS)
def test_pair_modules_match_pytorch(ref, impl):
  """cyclegan.build's pairs with cyclegan_variables: each method reaches the right net."""
  gens, discs = _pair(ref, impl)
  g_vars, d_vars = _variables(ref)
  for module, variables, method, x, want in (
      (gens, g_vars, "a_to_b", ref["a"], ref["g_a_out"]),
      (gens, g_vars, "b_to_a", ref["b"], ref["g_b_out"]),
      (discs, d_vars, "judge_b", ref["b"], ref["d_a_logits"]),
      (discs, d_vars, "judge_a", ref["a"], ref["d_b_logits"])):
    _close(_run(module, variables, x, True, method), want)


def test_imported_trees_match_flax_init(ref):
  """Every Flax variable is filled by the import, with its shape and dtype, and nothing
  else (InstanceNorm without affine parameters: no batch_stats at all)."""
  gens, discs = _pair(ref, "auto")
  dummy = jnp.zeros((1, 32, 32, 3))
  for module, variables in zip((gens, discs), _variables(ref)):
    init = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, x, train=False), dummy)
    assert jax.tree.structure(init) == jax.tree.structure(variables)
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(init)[0],
                            jax.tree.leaves(variables)):
      assert (a.shape, a.dtype) == (b.shape, b.dtype), jax.tree_util.keystr(path)
  # The single generator's import, too (what a checkpoint of one G loads through).
  g = _generator(ref)
  init = jax.eval_shape(lambda x: g.init(jax.random.PRNGKey(0), x, train=False), dummy)
  variables = torch_import.cyclegan_generator_variables(_state(ref, "g_a"))
  assert not variables["batch_stats"]
  assert jax.tree.structure(init) == jax.tree.structure({"params": variables["params"]})


def test_import_reads_every_entry(ref):
  """No state_dict entry is dropped: as many numbers in as out, and every conv bias lands
  (the D's too, where all five convs are biased under InstanceNorm)."""
  for name in NETS:
    state = _state(ref, name)
    to_flax = (torch_import.cyclegan_generator_variables if name.startswith("g")
               else torch_import.pix2pix_discriminator_variables)
    params = to_flax(state)["params"]
    assert sum(v.size for v in state.values()) == sum(v.size for v in jax.tree.leaves(params))
    assert sum(k.endswith(".bias") for k in state) == sum(k.endswith("_bias") for k in params)


def test_generator_import_places_each_layer(ref):
  """The authors' key for each layer lands on our name, exactly. Outputs alone cannot show
  this for the biases ahead of an InstanceNorm (the norm removes them)."""
  n = int(ref["n_blocks"])
  state = _state(ref, "g_a")
  params = torch_import.cyclegan_generator_variables(state)["params"]
  # model.<i>: pad 0, stem 1, down 4 and 7 (each conv, norm, ReLU), blocks 10.., then the
  # transposed convs at 10+n and 13+n, pad 16+n, head 17+n; a block's convs at 1 and 5.
  where = {"stem": "model.1", "down0": "model.4", "down1": "model.7",
           "up0": f"model.{10 + n}", "up1": f"model.{13 + n}", "head": f"model.{17 + n}"}
  for b in range(n):
    where |= {f"block{b}_conv0": f"model.{10 + b}.conv_block.1",
              f"block{b}_conv1": f"model.{10 + b}.conv_block.5"}
  assert set(params) == set(where) | {f"{name}_bias" for name in where}
  for name, key in where.items():
    to_kernel = (torch_import.conv_transpose_kernel if name.startswith("up")
                 else torch_import.conv_kernel)
    np.testing.assert_array_equal(params[name]["kernel"], to_kernel(state[f"{key}.weight"]))
    np.testing.assert_array_equal(params[f"{name}_bias"], state[f"{key}.bias"])
    assert np.abs(state[f"{key}.bias"]).max() > 0  # the fixture's biases are not the init's 0


def test_import_accepts_data_parallel_keys_and_rejects_others(ref):
  state = _state(ref, "g_a")
  plain = torch_import.cyclegan_generator_variables(state)
  wrapped = torch_import.cyclegan_generator_variables({f"module.{k}": v for k, v in state.items()})
  assert jax.tree.all(jax.tree.map(np.array_equal, plain, wrapped))
  with pytest.raises(ValueError):
    torch_import.cyclegan_generator_variables(_state(ref, "d_a"))
  with pytest.raises(ValueError):
    torch_import.pix2pix_discriminator_variables(state)


def test_parameter_counts_match_pytorch_at_256(ref):
  """resnet_9blocks (ngf 64, 3 -> 3) and the basic InstanceNorm D (ndf 64, 3 channels in),
  without allocating them."""
  def count(module, inputs=1):
    shapes = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), *[x] * inputs,
                                                  train=False),
                            jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32))
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(shapes["params"]))

  gens, discs = cyclegan.build(channels_a=3, channels_b=3, width_g=64, width_d=64, num_blocks=9,
                               norm="instance", d_layers=3, dropout=0.0, dtype=jnp.float32,
                               bn_axis_name=None, conv_impl="auto")
  assert count(cyclegan.ResnetGenerator()) == int(ref["count/g256"]) == 11_378_179
  assert count(gens, 2) == 2 * int(ref["count/g256"])
  assert count(discs, 2) == 2 * int(ref["count/d256"])


def test_step_losses_follow_from_the_flax_networks(ref):
  """Every loss of the fixture's training step is a function of the starting weights (G's
  terms through the Ds before their update, D's terms on the fakes of G before its), so our
  networks reproduce all eight: this pins the fixture's step to the reference's objective
  (lsgan, lambdas, identity weights, 0.5 on D) before any train-step comparison uses it."""
  gens, discs = _pair(ref, "lax")
  g_vars, d_vars = _variables(ref)
  a, b = ref["a"], ref["b"]
  la, lb, li = (float(ref[k]) for k in ("lambda_a", "lambda_b", "lambda_identity"))
  g = lambda method, x: gens.apply(g_vars, x, method=method)
  d = lambda method, x: discs.apply(d_vars, x, method=method)
  mse = lambda p, t: jnp.mean((p - t) ** 2)
  l1 = lambda x, y: jnp.mean(jnp.abs(x - y))
  fake_b, fake_a = g("a_to_b", a), g("b_to_a", b)
  got = {
      "G_A": mse(d("judge_b", fake_b), 1.0), "G_B": mse(d("judge_a", fake_a), 1.0),
      "cycle_A": l1(g("b_to_a", fake_b), a) * la, "cycle_B": l1(g("a_to_b", fake_a), b) * lb,
      "idt_A": l1(g("a_to_b", b), b) * lb * li, "idt_B": l1(g("b_to_a", a), a) * la * li,
      "D_A": 0.5 * (mse(d("judge_b", b), 1.0) + mse(d("judge_b", fake_b), 0.0)),
      "D_B": 0.5 * (mse(d("judge_a", a), 1.0) + mse(d("judge_a", fake_a), 0.0))}
  for name, value in got.items():
    np.testing.assert_allclose(value, ref[f"step/loss_{name}"], rtol=1e-5, err_msg=name)
  np.testing.assert_allclose(sum(got[t] for t in G_TERMS), ref["step/g_loss"], rtol=1e-5)
  np.testing.assert_allclose(got["D_A"] + got["D_B"], ref["step/d_loss"], rtol=1e-5)


def test_fixture_holds_one_training_step(ref):
  """The state after the step imports into the same trees, and the step moved every net
  (for the train-step comparison: Adam's first move is ~lr per weight)."""
  assert int(ref["pool_size"]) == 0  # no pool randomness: D saw the step's own fakes
  lr = float(ref["lr"])
  for before, after in zip(_variables(ref), _variables(ref, "step_")):
    assert jax.tree.structure(before) == jax.tree.structure(after)
    for name in before["params"]:
      moved = jax.tree.map(lambda x, y: np.abs(x - y).max(), before["params"][name],
                           after["params"][name])
      assert 0.5 * lr < max(jax.tree.leaves(moved)) < 2 * lr, name


@pytest.mark.parametrize("impl", ["lax", "rearranged"])
def test_one_training_step_matches_pytorch(ref, impl):
  """jaxgan's cycle step from the fixture's weights (pool_size 0) = the reference's
  optimize_parameters: both totals, and every weight's Adam move to 1% of the lr. The
  biases in front of an InstanceNorm are the exception: the norm cancels them, so their
  true gradient is 0 and both frameworks' are rounding noise, which Adam's first step
  turns into a move of up to lr of either sign (they change no output); those are held
  to Adam's bound only."""
  import functools

  import ml_collections

  from jaxgan.train import build, steps
  from jaxgan.train.state import GANState, NetState

  width, lr = int(ref["width"]), float(ref["lr"])
  adam = dict(name="adam", lr=lr, b1=float(ref["beta1"]), b2=0.999)
  c = ml_collections.ConfigDict(dict(
      task="unpaired", image_size=32, channels=3, input_channels=3, loss="least_squares",
      conv_impl=impl, batch_size=2, num_train_steps=10,
      model=dict(name="cyclegan", g_width=width, d_width=width, num_blocks=int(ref["n_blocks"]),
                 norm="instance", d_layers=3, dropout=0.0),
      cycle=dict(lambda_a=float(ref["lambda_a"]), lambda_b=float(ref["lambda_b"]),
                 lambda_identity=float(ref["lambda_identity"]), adv_weight=2.0, pool_size=0),
      optimizer_g=adam, optimizer_d=dict(adam)))
  gan = build.build_gan(c)
  g0, d0 = _variables(ref)
  net = lambda v, tx: NetState(params=v["params"], batch_stats={}, opt_state=tx.init(v["params"]))
  state = GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(0),
                   g=net(g0, gan.g_tx), d=net(d0, gan.d_tx))
  new, m = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(
      state, {"input": ref["a"], "image": ref["b"]})
  np.testing.assert_allclose(m["g_loss"], ref["step/g_loss"], rtol=1e-5)
  np.testing.assert_allclose(m["d_loss"], ref["step/d_loss"], rtol=1e-5)
  g1, d1 = _variables(ref, "step_")
  for name, before, after, expected in (("G", g0, new.g.params, g1), ("D", d0, new.d.params, d1)):
    moved = jax.tree.map(lambda x, y: np.asarray(x) - y, after, before["params"])
    want = jax.tree.map(lambda x, y: x - y, expected["params"], before["params"])
    for (path, got), exp in zip(jax.tree_util.tree_flatten_with_path(moved)[0],
                                jax.tree.leaves(want)):
      leaf = path[-1].key if name == "D" else path[1].key
      if leaf.endswith("_bias") and leaf not in ("head_bias", "conv0_bias", "conv4_bias"):
        assert np.abs(got).max() <= 1.01 * lr, jax.tree_util.keystr(path)
        continue
      # Adam's first move is lr * g / (|g| + 1e-8): well defined where |g| >> 1e-8 (a move
      # near lr); a weight whose gradient is at the 1e-8 level (reference move < lr / 2:
      # one D weight in 8,192 here) moves by rounding noise in either framework.
      clear = np.abs(exp) >= 0.5 * lr
      assert clear.mean() > 0.99, jax.tree_util.keystr(path)
      np.testing.assert_allclose(got[clear], exp[clear], rtol=0, atol=0.01 * lr,
                                 err_msg=f"{name} {jax.tree_util.keystr(path)}")
      assert np.abs(got).max() <= 1.01 * lr
