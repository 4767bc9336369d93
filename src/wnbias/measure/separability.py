"""Linear separability through the origin, decided by an exact LP."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


def linearly_separable(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether some w has y_i <w, x_i> >= 1 for every i (HiGHS LP feasibility).

    A bias-free *linear* model (a linear net of any depth) can drive an exponential-tailed loss
    to 0 only on such data; otherwise its loss is bounded below and no rate theorem applies.
    (Non-linear homogeneous nets can fit more: XOR with ReLU is not linearly separable.)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    result = linprog(
        c=np.zeros(x.shape[1]), A_ub=-(y[:, None] * x), b_ub=-np.ones(len(y)),
        bounds=[(None, None)] * x.shape[1], method="highs",
    )
    return result.status == 0
