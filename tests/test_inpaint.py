"""DeepFill v2 (jaxgan/models/inpaint.py, jaxgan/train/inpaint_step.py): shapes, sizes,
the composite, bf16, the step under jit and input checks. Tiny: width 4, 32x32."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses
from jaxgan.models import inpaint
from jaxgan.train import inpaint_step
from jaxgan.train.inpaint_step import InpaintOptions, inpaint_train_step
from jaxgan.train.state import GANDef, GANState, NetState

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "inpaint_torch_reference.npz")
SIZE = 32


def _batch(b=2, size=SIZE, seed=0):
  rng = np.random.default_rng(seed)
  image = rng.uniform(-1, 1, (b, size, size, 3)).astype(np.float32)
  mask = np.zeros((b, size, size, 1), np.float32)
  mask[0, 8:20, 4:24] = 1
  mask[1, 2:10, 10:30] = 1   # per-example holes
  return image, mask


def _gan(dtype=jnp.float32):
  tx = optax.adam(1e-4, b1=0.5, b2=0.999)
  return GANDef(generator=inpaint.DeepFillGenerator(width=4, dtype=dtype),
                discriminator=inpaint.SNPatchDiscriminator(width=4, dtype=dtype), g_tx=tx,
                d_tx=tx, d_loss=losses.hinge_d_loss, g_loss=losses.wasserstein_g_loss,
                inpaint=InpaintOptions())


def _init(gan, image, mask):
  # Jitted: op-by-op init of the ~50 gated convs is far slower on CPU than compiling it.
  gv = jax.jit(lambda x, m: gan.generator.init(jax.random.PRNGKey(0), x, m, train=False))(
      image, mask)
  dv = jax.jit(lambda x: gan.discriminator.init(jax.random.PRNGKey(1), x, train=False))(
      jnp.concatenate([image, mask], -1))
  net = lambda v, tx: NetState(params=v["params"], batch_stats=v.get("batch_stats", {}),
                               opt_state=tx.init(v["params"]))
  return GANState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(2),
                  g=net(gv, gan.g_tx), d=net(dv, gan.d_tx))


def test_shapes_and_ranges():
  gan = _gan()
  image, mask = _batch()
  state = _init(gan, image, mask)
  coarse, refined = jax.jit(gan.generator.apply)({"params": state.g.params}, image, mask)
  assert coarse.shape == refined.shape == image.shape
  assert coarse.dtype == refined.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(refined))) <= 1.0
  logits = jax.jit(functools.partial(gan.discriminator.apply, train=False))({"params": state.d.params, "batch_stats": state.d.batch_stats},
                                   jnp.concatenate([image, mask], -1))
  assert logits.shape == (2, 16)  # 4w channels at 1x1 (32 / 2^6 rounded up)
  sn = state.d.batch_stats["conv1"]
  assert sn["sn_u"].shape == (4,) and sn["sn_v"].shape == (5 * 5 * 4,)


def test_full_size_parameter_counts():
  """G (cnum 48) and D (w 64) as the port's Generator(5, 3, 48) / Discriminator(4, 64),
  counted by scripts/export_inpaint_torch_reference.py."""
  def count(module, *shapes):
    s = jax.eval_shape(lambda *x: module.init(jax.random.PRNGKey(0), *x, train=False),
                       *[jax.ShapeDtypeStruct(sh, jnp.float32) for sh in shapes])
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(s["params"]))

  ref = np.load(FIXTURE)
  g = count(inpaint.DeepFillGenerator(), (1, 256, 256, 3), (1, 256, 256, 1))
  d = count(inpaint.SNPatchDiscriminator(), (1, 256, 256, 4))
  assert (g, d) == (int(ref["count/g"]), int(ref["count/d"])) == (4_052_478, 5_946_816)


def test_inpaint_keeps_the_pixels_outside_the_hole():
  gan = _gan()
  image, mask = _batch()
  state = _init(gan, image, mask)
  out = np.asarray(jax.jit(functools.partial(inpaint_step.inpaint, gan))(state.g.params, {}, image, mask))
  keep = mask[..., 0] == 0
  assert np.array_equal(out[keep], image[keep])
  assert not np.array_equal(out[~keep], image[~keep])


def test_bf16_runs():
  gan = _gan(jnp.bfloat16)
  image, mask = _batch()
  state = _init(gan, image, mask)
  coarse, refined = gan.generator.apply({"params": state.g.params}, image, mask)
  assert np.isfinite(np.asarray(refined)).all() and refined.dtype == jnp.float32
  ref_c, ref_r = _gan().generator.apply({"params": state.g.params}, image, mask)
  assert float(jnp.max(jnp.abs(refined - ref_r))) < 0.05


def test_step_under_jit_gives_finite_metrics():
  gan = _gan()
  image, mask = _batch()
  state = _init(gan, image, mask)
  step = jax.jit(functools.partial(inpaint_train_step, gan=gan))
  new, m = step(state, {"image": image, "mask": mask})
  for k in ("d_loss", "g_loss", "g_l1", "g_l1_coarse", "g_l1_refined", "d_real",
            "d_fake_before", "d_fake_after", "d_grad_norm", "g_grad_norm"):
    assert np.isfinite(float(m[k])), k
  assert int(new.step) == 1
  # The power iteration ran (D's u moved) and both networks were updated.
  assert not np.array_equal(new.d.batch_stats["conv1"]["sn_u"], state.d.batch_stats["conv1"]["sn_u"])
  assert not np.array_equal(new.g.params["stage2"]["conv_to_rgb"]["kernel"],
                            state.g.params["stage2"]["conv_to_rgb"]["kernel"])


def test_bad_inputs_raise_clear_errors():
  # The checks run before any layer: init (no weights needed) raises them at once.
  gan = _gan()
  image, mask = _batch()
  g = lambda x, m: gan.generator.init(jax.random.PRNGKey(0), x, m)
  with pytest.raises(ValueError, match="mask \\(B, H, W, 1\\)"):
    g(image, mask[..., 0])
  with pytest.raises(ValueError, match="mask must be"):
    g(image, np.concatenate([mask, mask], -1))
  with pytest.raises(ValueError, match="multiples of 8"):
    g(image[:, :28, :28], mask[:, :28, :28])
  with pytest.raises(ValueError, match="channels"):
    g(image[..., :1], mask)
  with pytest.raises(ValueError, match="multiples of 8"):
    inpaint_train_step(None, {"image": image[:, :20], "mask": mask[:, :20]}, gan=gan)
  with pytest.raises(ValueError, match="SNPatchDiscriminator"):
    gan.discriminator.init(jax.random.PRNGKey(0), image, train=False)
