"""Inpainting masks: DeepFill v2's strokes and boxes, per-example keys, geometry checked
against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.data import masks


def test_segment_distance_matches_numpy():
  rng = np.random.default_rng(0)
  p, a, b = rng.uniform(-5, 5, (3, 200, 2))
  ours = np.asarray(masks._segment_distance(p[:, 0], p[:, 1], a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
  expected = []
  for pi, ai, bi in zip(p, a, b):  # the closest of many points along the segment
    ts = np.linspace(0, 1, 20001)[:, None]
    expected.append(np.min(np.linalg.norm(ai + ts * (bi - ai) - pi, axis=1)))
  np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_box_masks_are_jittered_half_size_rectangles():
  size = 64
  for i in range(20):
    m = np.asarray(masks.box_mask(jax.random.PRNGKey(i), size))
    rows, cols = np.nonzero(m)
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert m.sum() == h * w  # one filled rectangle
    assert size // 2 - size // 8 <= h <= size // 2 and size // 2 - size // 8 <= w <= size // 2


def test_deepfill_masks_are_binary_index_keyed_and_cover_as_the_authors():
  key = jax.random.PRNGKey(3)
  all_masks = np.asarray(masks.random_masks(key, jnp.arange(32), 64))
  assert all_masks.shape == (32, 64, 64, 1) and set(np.unique(all_masks)) <= {0.0, 1.0}
  # Example i's mask does not depend on the rest of the batch (device-count independence).
  shifted = np.asarray(masks.random_masks(key, jnp.arange(16, 48), 64))  # same shape: no recompile
  np.testing.assert_array_equal(shifted[:16], all_masks[16:])
  assert len({m.tobytes() for m in all_masks}) == 32
  # A half-size box (~20% once jittered) plus strokes: DeepFill v2's masks hide about a
  # third of the image on average, never all of it.
  fractions = all_masks.mean(axis=(1, 2, 3))
  assert 0.22 < fractions.mean() < 0.45 and fractions.max() < 0.8, fractions
  strokes = np.asarray(masks.random_masks(key, jnp.arange(32), 64, "strokes"))
  assert np.all(strokes.mean(axis=(1, 2, 3)) > 0) and strokes.mean() < fractions.mean()


def test_a_single_known_stroke_is_a_capsule():
  """The strokes' drawing rule: pixel centres within width / 2 of a segment."""
  size, width = 32, 6.0
  centres = np.arange(size) + 0.5
  py, px = np.meshgrid(centres, centres, indexing="ij")
  d = np.asarray(masks._segment_distance(px, py, 5.0, 8.0, 25.0, 20.0))
  capsule = d <= width / 2
  # Brute force: the nearest of the segment's points.
  ts = np.linspace(0, 1, 4001)
  seg = np.stack([5 + 20 * ts, 8 + 12 * ts], axis=1)
  brute = np.min(np.hypot(px[..., None] - seg[:, 0], py[..., None] - seg[:, 1]), axis=-1)
  clear = np.abs(brute - width / 2) > 0.01  # away from the rim, where sampling decides
  assert clear.mean() > 0.9
  np.testing.assert_array_equal(capsule[clear], (brute <= width / 2)[clear])


def test_unknown_kind_is_named():
  with pytest.raises(ValueError, match="unknown mask kind 'blob'"):
    masks.random_mask(jax.random.PRNGKey(0), 16, "blob")
