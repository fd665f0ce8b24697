"""Test set-up: 8 simulated CPU devices, quiet TensorFlow, a session-wide TFDS data_dir."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tempfile  # noqa: E402

import jax  # noqa: E402
import pytest  # noqa: E402

# Tests build the same small steps many times: a persistent compilation cache makes
# every compilation after the first a lookup.
# The cache is private to this session: concurrent test runs must never share entries.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="jaxgan-test-xla-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# Caches jaxgan keeps in the home directory (image-folder scans) go to a throwaway place.
os.environ.setdefault("JAXGAN_CACHE", tempfile.mkdtemp(prefix="jaxgan-test-cache-"))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """One TFDS data_dir per session: the embedded datasets are prepared once."""
  return str(tmp_path_factory.mktemp("tfds"))
