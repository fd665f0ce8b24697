"""Every config in experiments/ loads, validates and builds its GAN (no weights are made):
a paper recipe that cannot even be built is caught here, not on a cluster."""

import glob
import os

import pytest

from jaxgan import config as config_lib
from jaxgan.train import build
from helpers import REPO

CONFIGS = sorted(glob.glob(os.path.join(REPO, "experiments", "*.py")))


def test_configs_exist():
  assert len(CONFIGS) >= 20


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_builds(path):
  c = config_lib.load_config_file(path)
  config_lib.validate(c)
  gan = build.build_gan(c)
  assert gan.generator is not None and gan.discriminator is not None
  # Image models know which command applies them; noise models have none.
  assert (build.edit_command(c) is None) == (not build.is_image_model(c))
