"""2-D toy data and the mode-coverage metrics on hand-made samples."""

import numpy as np
import pytest

from jaxgan.data import toy2d
from jaxgan.errors import UsageError
from jaxgan.metrics import toy2d as toy_metrics


def test_modes_are_the_published_ones():
  ring, std = toy2d.modes("toy_ring")
  assert ring.shape == (8, 2) and std == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
  grid, std = toy2d.modes("toy_grid")
  assert grid.shape == (25, 2) and std == 0.05
  assert set(np.unique(grid)) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_stream_is_a_function_of_the_step_and_splits_over_processes():
  whole = next(toy2d.ToyStream("toy_grid", seed=1, global_batch=8, start_step=3).as_numpy_iterator())
  parts = [next(toy2d.ToyStream("toy_grid", seed=1, global_batch=8, process_index=p,
                                process_count=2, start_step=3).as_numpy_iterator())["image"]
           for p in range(2)]
  np.testing.assert_array_equal(np.concatenate(parts), whole["image"])
  assert whole["image"].dtype == np.float32 and whole["image"].shape == (8, 2)
  np.testing.assert_array_equal(whole["image"], toy2d.batch_for_step("toy_grid", 1, 3, 8))


def test_mode_report_on_hand_made_samples():
  ring, _ = toy2d.modes("toy_ring")
  # 6 samples: 3 on mode 0, 1 on mode 1 (2 std away), 1 on mode 2 just outside 3 std, 1 far.
  samples = np.array([ring[0], ring[0], ring[0] + [0.029, 0.0], ring[1] + [0.0, 0.02],
                      ring[2] + [0.031, 0.0], [5.0, 5.0]])
  r = toy_metrics.mode_report(samples, "toy_ring")
  assert r["modes"] == 2
  assert r["high_quality"] == pytest.approx(4 / 6)
  q = np.array([3 / 4, 1 / 4])                                # histogram over the 8 modes
  assert r["reverse_kl"] == pytest.approx(np.sum(q * np.log(q * 8)))
  perfect = toy_metrics.mode_report(np.repeat(ring, 10, axis=0), "toy_ring")
  assert perfect == {"modes": 8, "high_quality": 1.0, "reverse_kl": pytest.approx(0.0)}


def test_unknown_toy_dataset():
  with pytest.raises(UsageError, match="valid: toy_ring, toy_grid"):
    toy2d.modes("toy_spiral")
