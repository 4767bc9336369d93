"""Learning-rate rules for GD on a loss tracked in the log domain (PAPERS.md §1.6).

A rule is a small record of pure functions (optax style):

- ``init() -> state``: a dict of scalars (at least ``lr``);
- ``scale(state, log_loss) -> c``: the step is ``theta <- theta - c * grad(log L)``;
- ``update(state, accepted) -> state``: called after every attempted step.

Since grad L = L grad(log L), a rule whose effective rate on the true loss is eta has
c = eta * L. ``backtracks`` says whether a step that raises the loss is undone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jax import Array


class StepRule(NamedTuple):
    init: Callable[[], dict[str, Array]]
    scale: Callable[[dict[str, Array], Array], Array]
    update: Callable[[dict[str, Array], Array], dict[str, Array]]
    backtracks: bool = False


def _keep(state: dict[str, Array], accepted: Array) -> dict[str, Array]:
    return state


def constant(lr: float) -> StepRule:
    """Plain GD on L: eta = lr, so c = lr * L."""
    return StepRule(
        init=lambda: {"lr": jnp.asarray(lr)},
        scale=lambda state, log_loss: state["lr"] * jnp.exp(log_loss),
        update=_keep,
    )


def loss_adaptive(lr: float, frac: float) -> StepRule:
    """The EWN paper's rate eta = lr * L^-(1 - 1/frac), so c = lr * L^(1/frac).

    ``frac = 0`` means eta = lr / L (c = lr), as in the authors' docstring.
    """

    def scale(state, log_loss):
        return state["lr"] * (1.0 if frac == 0 else jnp.exp(log_loss / frac))

    return StepRule(init=lambda: {"lr": jnp.asarray(lr)}, scale=scale, update=_keep)


def backtracking(
    rule: StepRule, lr_limit: float, grow: float = 1.1, shrink: float = 1.1
) -> StepRule:
    """Wrap ``rule`` with the authors' backtracking on its ``lr``.

    After each step the loss is recomputed. If it rose (or is not finite) the step is undone
    and lr <- lr / shrink; otherwise lr <- min(lr * grow, lr_limit) (PAPERS.md §1.6: r_u = r_d =
    1.1). The authors' code grows lr only while lr < lr_limit and so can overshoot the limit by
    one factor; we follow PAPERS.md and cap at lr_limit.
    """

    def update(state, accepted):
        lr = state["lr"]
        new_lr = jnp.where(accepted, jnp.minimum(lr * grow, lr_limit), lr / shrink)
        return {**state, "lr": new_lr}

    return StepRule(init=rule.init, scale=rule.scale, update=update, backtracks=True)
