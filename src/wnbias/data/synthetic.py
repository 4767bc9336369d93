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
