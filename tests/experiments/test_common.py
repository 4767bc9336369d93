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


def test_side_by_side_keeps_order_labels_and_the_first_failure():
    """Results in the order given whatever order the threads finish in; each call keeps the
    experiment's progress label; the first failure in order is raised after the others."""
    import threading
    import time

    from wnbias import progress
    from wnbias.experiments.common import side_by_side

    seen = []

    def work(i):
        time.sleep(0.05 * (3 - i))  # the first item finishes last
        seen.append((i, progress.Phase("run", "GD", enabled=False).label,
                     threading.current_thread().name))
        return i * i

    with progress.experiment("ewn-xor"):
        assert side_by_side(work, range(4)) == [0, 1, 4, 9]
    assert {label for _, label, _ in seen} == {"ewn-xor run: GD"}
    assert len({name for *_, name in seen}) == 2  # two threads at a time

    def fails(i):
        if i in (1, 2):
            raise ValueError(f"item {i}")
        return i

    with pytest.raises(ValueError, match="item 1"):
        side_by_side(fails, range(4))
