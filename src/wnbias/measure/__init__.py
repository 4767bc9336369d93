"""Measures: pure functions of weights, data and trajectories.

- ``neurons.py``, ``margin.py``, ``rates.py``, ``separability.py``: the EWN paper's measures;
- ``linear_networks.py``: Min et al.'s imbalance, bounds and min-norm map;
- ``least_squares.py``: Wu et al.'s invariant, closed-form limit and rate;
- ``sparse_recovery.py``: Chou et al.'s references for diagonal linear networks: basis pursuit
  by an exact LP, the plain flow's limit (Woodworth et al.'s hyperbolic entropy, any depth), the
  single-measurement paths, the invariants and the recovery measures;
- ``exact_flows.py``: the exact flow of a lambda-balanced two-layer linear network
  (:func:`lambda_balanced_flow`), a reference for the engine's flow;
- ``hessian.py``: matrix-free curvature (Cisneros-Velarde et al.): Hessian-vector products,
  Lanczos extreme eigenvalues with their residuals, the predictor-Hessian norm over inputs and
  outputs, Hutchinson's trace, the dense Hessian of small nets, the row-norm term rho.

The names below are imported on first use (PEP 562), so that a module importing one measure
does not load every other one's dependencies (scipy's optimizers, ARPACK).
"""

from .._lazy import lazy_exports

_PUBLIC = {
    **dict.fromkeys(("lambda_balanced_flow", "random_lambda_balanced"), ".exact_flows"),
    **dict.fromkeys(("Eigen", "dense_hessian", "extreme_eigenvalues", "hutchinson_trace", "hvp",
                     "min_row_norm", "power_iteration", "predictor_hessian_norm",
                     "spectral_norm"), ".hessian"),
    **dict.fromkeys(("power_law", "spearman"), ".rates"),
    **dict.fromkeys(("depth_l_limit", "depth_l_single_measurement_path", "l1_gap",
                     "make_instance", "min_l1_interpolant", "min_l2_interpolant",
                     "plain_depth2_invariant", "polar_pair_invariant", "recovery_error",
                     "support_recovery", "woodworth_limit"), ".sparse_recovery"),
}


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)


__all__ = sorted(_PUBLIC)
