"""Helpers shared by the experiments: dtypes, seeds, the EWN paper's GD schedule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.gd import STATUS_NAMES, GDResult
from ..dynamics.schedules import StepRule, backtracking, loss_adaptive
from ..errors import NonFiniteLossError

DTYPES = ("float64", "float32")


def seed_keys(seed: int, n_seeds: int) -> jax.Array:
    """``n_seeds`` independent PRNG keys derived from one integer seed."""
    return jax.random.split(jax.random.PRNGKey(seed), n_seeds)


def paper_schedule(
    lr: float, frac: float, lr_limit: float, grow: float, shrink: float, backtrack: bool = True
) -> StepRule:
    """The EWN authors' GD: eta = lr L^-(1-1/frac) with backtracking on lr (PAPERS.md §1.6).

    ``backtrack=False`` keeps lr fixed and accepts every step (a NaN loss then stops the run).
    """
    rule = loss_adaptive(lr, frac)
    return backtracking(rule, lr_limit, grow, shrink) if backtrack else rule


def as_dtype(array, dtype: str):
    return jnp.asarray(array, dtype=jnp.dtype(dtype))


def check_finite(result: GDResult, label: str, partial) -> None:
    """Raise :class:`NonFiniteLossError` (keeping ``partial``) if any seed hit a NaN/inf loss."""
    bad = np.flatnonzero(result.status == STATUS_NAMES.index("nonfinite"))
    if bad.size:
        seed = int(bad[0])
        raise NonFiniteLossError(
            f"{label}: the loss became non-finite after step {int(result.steps[seed])} "
            f"(seed index {seed}, last log-loss {float(result.log_loss[seed]):.4g}); "
            "lower the learning rate (lr / lr_limit) or use float64",
            partial=partial,
        )
