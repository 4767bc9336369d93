"""The experiments' shared helpers."""

import numpy as np
import pytest

from wnbias.errors import ConfigError
from wnbias.experiments.common import mean_square_step, require_full_row_rank


def test_rank_deficient_data_is_a_config_error():
    require_full_row_rank(np.eye(3, 5), "X", 0)
    deficient = np.ones((3, 5))
    with pytest.raises(ConfigError, match="seed=7: X has rank < n=3"):
        require_full_row_rank(deficient, "X", 7)


def test_mean_square_step_matches_the_gradient_of_the_mean_loss():
    # grad (1/n)||r||^2 = (2/n) grad ||r||^2/2: a step eta on the first is 2 eta/n on the second
    r, n = np.array([1.0, -2.0, 0.5]), 3
    assert mean_square_step(5e-3, n) * r == pytest.approx(5e-3 * 2 * r / n)
