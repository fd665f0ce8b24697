"""The GAN step against a plain reference, and train -> resume -> generate end to end."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import generate
from jaxgan.train import loop, parallel, steps
from jaxgan.train.state import init_state
from helpers import tiny_config


def _setup(tfds_dir, **overrides):
  c = tiny_config(tfds_dir, **overrides)
  gan = loop.build_gan(c)
  state = init_state(gan, c.seed, loop.image_shape(c))
  batch = {"image": jax.random.uniform(jax.random.PRNGKey(7), (8, 16, 16, 1), minval=-1, maxval=1)}
  return c, gan, state, batch


def _reference_step(state, batch, gan):
  """The DCGAN algorithm written plainly: D step on real and detached fake, then G step
  against the updated D with G's forward recomputed (no VJP reuse)."""
  G, D = gan.generator, gan.discriminator
  z = steps.sample_latents(jax.random.fold_in(state.rng, state.step), 8, gan.latent_dim)
  fake, g_mut = G.apply({"params": state.g.params, "batch_stats": state.g.batch_stats}, z,
                        mutable=["batch_stats"])

  def d_loss(p):
    r, m = D.apply({"params": p, "batch_stats": state.d.batch_stats}, batch["image"],
                   mutable=["batch_stats"])
    f, m = D.apply({"params": p, "batch_stats": m["batch_stats"]}, fake, mutable=["batch_stats"])
    return jnp.mean(-jax.nn.log_sigmoid(r) - jax.nn.log_sigmoid(-f)), m["batch_stats"]

  (_, d_stats), gd = jax.value_and_grad(d_loss, has_aux=True)(state.d.params)
  upd, _ = gan.d_tx.update(gd, state.d.opt_state, state.d.params)
  d_params = optax.apply_updates(state.d.params, upd)

  def g_loss(p):
    f, _ = G.apply({"params": p, "batch_stats": state.g.batch_stats}, z, mutable=["batch_stats"])
    logits, _ = D.apply({"params": d_params, "batch_stats": d_stats}, f, mutable=["batch_stats"])
    return jnp.mean(-jax.nn.log_sigmoid(logits))

  gg = jax.grad(g_loss)(state.g.params)
  upd, _ = gan.g_tx.update(gg, state.g.opt_state, state.g.params)
  return d_params, optax.apply_updates(state.g.params, upd)


def test_step_equals_plain_reference(tfds_dir):
  _, gan, state, batch = _setup(tfds_dir)
  d_ref, g_ref = jax.jit(functools.partial(_reference_step, gan=gan))(state, batch)
  new, metrics = jax.jit(functools.partial(steps.gan_train_step, gan=gan))(state, batch)
  for a, b in zip(jax.tree.leaves(new.d.params), jax.tree.leaves(d_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  for a, b in zip(jax.tree.leaves(new.g.params), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert int(new.step) == 1
  expected = {"d_loss", "g_loss", "d_real", "d_fake_before", "d_fake_after", "d_grad_norm",
              "g_grad_norm", "d_param_norm", "g_param_norm"}
  assert set(metrics) == expected
  assert all(np.isfinite(float(v)) for v in metrics.values())


def test_step_compiles_once_and_donates(tfds_dir):
  c, gan, state, batch = _setup(tfds_dir)
  mesh = parallel.make_mesh(jax.devices()[:1])
  step = parallel.jit_train_step(functools.partial(steps.gan_train_step, gan=gan), mesh)
  state = jax.device_put(state, parallel.replicated(mesh))
  old_leaf = jax.tree.leaves(state.g.params)[0]
  for _ in range(3):
    state, _ = step(state, parallel.global_batch(jax.device_get(batch), mesh))
  assert step._cache_size() == 1
  assert old_leaf.is_deleted()  # the input state was donated


def test_noise_depends_on_step_not_on_call(tfds_dir):
  _, gan, state, _ = _setup(tfds_dir)
  z0 = steps.step_latents(state, 8, gan.latent_dim)
  z1 = steps.step_latents(state.replace(step=state.step + 1), 8, gan.latent_dim)
  np.testing.assert_array_equal(z0, steps.step_latents(state, 8, gan.latent_dim))
  assert not np.allclose(z0, z1)


def _params(state):
  return [np.asarray(x) for x in jax.tree.leaves((state.g, state.d))]


@pytest.mark.parametrize("devices", [1, 8])
def test_train_resume_and_generate(tmp_path, tfds_dir, devices, monkeypatch):
  make_mesh = parallel.make_mesh
  monkeypatch.setattr(parallel, "make_mesh",
                      lambda d=None: make_mesh(jax.devices()[:devices] if d is None else d))
  straight = loop.train_and_evaluate(tiny_config(tfds_dir, num_train_steps=6), str(tmp_path / "a"))
  # The same run, stopped at step 2 and resumed twice.
  wd = str(tmp_path / "b")
  for stop in (2, 4, 6):
    resumed = loop.train_and_evaluate(tiny_config(tfds_dir, num_train_steps=stop), wd)
  for a, b in zip(_params(straight), _params(resumed)):
    np.testing.assert_array_equal(a, b)

  files = sorted(os.listdir(wd))
  assert {"checkpoints", "config.json", "metrics.jsonl", "samples", "tensorboard"} <= set(files)
  rows = [json.loads(line) for line in open(os.path.join(wd, "metrics.jsonl"))]
  assert [r["step"] for r in rows] == [2, 4, 6]
  assert os.listdir(os.path.join(wd, "samples"))
  assert json.load(open(os.path.join(wd, "config.json")))["num_train_steps"] == 6

  out = str(tmp_path / "s.npz")
  images = generate.generate_to_files(wd, num=5, out=out, seed=3, grid=str(tmp_path / "g.png"))
  saved = np.load(out)["images"]
  assert saved.dtype == np.uint8 and saved.shape == (5, 16, 16, 1)
  np.testing.assert_array_equal(saved, images)
  # Sample i depends on (seed, i) only, not on how many were asked for.
  fewer = generate.generate_to_files(wd, num=2, out=out, seed=3)
  np.testing.assert_array_equal(fewer, images[:2])
  other = generate.generate_to_files(wd, num=2, out=out, seed=4)
  assert not np.array_equal(other, fewer)
  assert os.path.getsize(tmp_path / "g.png") > 0


def test_non_finite_loss_stops_without_saving(tmp_path, tfds_dir, monkeypatch):
  from jaxgan import losses
  nan_d_loss = lambda r, f: losses.minimax_d_loss(r, f) * jnp.nan
  monkeypatch.setitem(losses.GAN_LOSSES, "nan_for_test", (nan_d_loss, losses.non_saturating_g_loss))
  wd = tmp_path / "run"
  with pytest.raises(loop.NonFiniteError, match=r"non-finite .*d_loss.* between steps 1 and 2"):
    loop.train_and_evaluate(tiny_config(tfds_dir, loss="nan_for_test"), str(wd))
  assert not [n for n in os.listdir(wd / "checkpoints") if n.isdigit()]
