"""The synthetic data sets of the papers, seeded and exact."""

from __future__ import annotations

import numpy as np


def xor_points(dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """XOR (EWN paper E1.3): (1,1), (-1,-1) labelled -1; (1,-1), (-1,1) labelled +1."""
    x = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=dtype)
    y = np.array([-1, -1, 1, 1], dtype=dtype)
    return x, y


def single_point(point: tuple[float, ...], dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """One example x = ``point`` with label +1 (EWN paper's simple-traj: x = (2, 1))."""
    return np.array([point], dtype=dtype), np.ones(1, dtype=dtype)


def lin_sep_points(seed: int, n_train: int = 4, n_test: int = 100):
    """The EWN paper's lin-sep data (``lin-sep.py``), drawn exactly as its authors drew it.

    Support points (1, 1) with y = -1 and (-1, 1) with y = +1; every other point of class -1 is
    uniform in [a, b]^2 and of class +1 in [-b, -a]^2, with a ~ U(1, 1.5), b ~ U(1.5, 2). The
    draws use NumPy's legacy ``RandomState(seed)`` in the authors' order, so seed 2137 gives
    their data. The max-margin direction is (-1, 0). Returns (x_train, y_train, x_test, y_test),
    each class taking half of the train and of the test points.
    """
    rng = np.random.RandomState(seed)
    low, high = rng.uniform(1.0, 1.5), rng.uniform(1.5, 2.0)
    per_class = (n_train + n_test) // 2
    neg = np.concatenate([[[1.0, 1.0]], rng.uniform(low, high, (per_class - 1, 2))])
    pos = np.concatenate([[[-1.0, 1.0]], rng.uniform(-low, -high, (per_class - 1, 2))])
    half = n_train // 2
    x_train = np.concatenate([neg[:half], pos[:half]])
    x_test = np.concatenate([neg[half:], pos[half:]])
    y_train = np.concatenate([-np.ones(half), np.ones(half)])
    y_test = np.concatenate([-np.ones(len(neg) - half), np.ones(len(pos) - half)])
    return x_train, y_train, x_test, y_test


def conv_rate_points(seed: int, n_train: int = 20, n_test: int = 100):
    """The EWN paper's conv_rate data (``conv_rate.py``) and its shared end-to-end init.

    Support points (1, 1) (y = -1) and (-1, 1) (y = +1); the other class -1 points uniform in
    [1.5, 2]^2, class +1 in [-2, -1.5]^2; max-margin direction (-1, 0). Then w_init ~ N(0, I_2),
    the end-to-end vector every depth starts from. Drawn with NumPy's legacy ``RandomState(seed)``
    in the authors' order, so seed 6782 gives their data and w_init.
    Returns (x_train, y_train, x_test, y_test, w_init).
    """
    rng = np.random.RandomState(seed)
    per_class = (n_train + n_test) // 2
    neg = np.concatenate([[[1.0, 1.0]], rng.uniform(1.5, 2.0, (per_class - 1, 2))])
    pos = np.concatenate([[[-1.0, 1.0]], rng.uniform(-1.5, -2.0, (per_class - 1, 2))])
    w_init = rng.randn(2)
    half = n_train // 2
    x_train = np.concatenate([neg[:half], pos[:half]])
    y_train = np.concatenate([-np.ones(half), np.ones(half)])
    x_test = np.concatenate([neg[half:], pos[half:]])
    y_test = np.concatenate([-np.ones(len(neg) - half), np.ones(len(pos) - half)])
    return x_train, y_train, x_test, y_test, w_init
