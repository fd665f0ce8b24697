"""2-D mode-collapse benchmark, grid: 25 Gaussians on {-4, -2, 0, 2, 4}^2, std 0.05.

The same networks and fields as toy_ring.py (VEEGAN / PacGAN synthetic data).
"""

import toy_ring


def get_config():
  c = toy_ring.get_config()
  c.dataset = "toy_grid"
  return c
