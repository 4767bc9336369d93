"""Learning-rate rules for GD on a loss tracked in the log domain (PAPERS.md §1.6).

A rule is a small record of pure functions (optax style):

- ``init() -> state``: a dict of float64 scalars (at least ``lr``), float64 even when the run is
  float32, so that a reference loss near e^-300 keeps its digits;
- ``scale(state, log_loss) -> c``: the step from theta_e is ``theta - c * grad(log L)(theta_e)``,
  with ``log_loss = log L(theta_e)``;
- ``update(state, accepted, log_loss) -> state``: called after every attempted step, with
  ``log_loss`` the log-loss of the point the attempt started from.

Since grad L = L grad(log L), a rule whose effective rate on the true loss is eta has
c = eta * L. ``backtracks`` says whether a step that raises the loss is undone.

The EWN authors' scripts (DepenM/Exp-WN) step on the loss normalized by the **previous** accepted
iterate's loss, eta_e = lr_e L(theta_{e-1})^-(1-1/frac) with L = 1 before the first step, and
grow their backtracking rate only **while below** its limit. ``loss_adaptive(...,
reference="previous")`` with ``backtracking(..., growth="while_below")`` is that rule;
the defaults (the current loss, growth capped at the limit) are the stateless reading of the
paper's formula.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jax import Array

REFERENCES = ("current", "previous")
GROWTHS = ("capped", "while_below")


class StepRule(NamedTuple):
    init: Callable[[], dict[str, Array]]
    scale: Callable[[dict[str, Array], Array], Array]
    update: Callable[[dict[str, Array], Array, Array], dict[str, Array]]
    backtracks: bool = False


def _f64(value) -> Array:
    return jnp.asarray(value, jnp.float64)


def _keep(state: dict[str, Array], accepted: Array, log_loss: Array) -> dict[str, Array]:
    return state


def constant(lr: float) -> StepRule:
    """Plain GD on L: eta = lr, so c = lr * L."""
    return StepRule(
        init=lambda: {"lr": _f64(lr)},
        scale=lambda state, log_loss: state["lr"] * jnp.exp(log_loss.astype(jnp.float64)),
        update=_keep,
    )


def loss_adaptive(lr: float, frac: float, reference: str = "current") -> StepRule:
    """The EWN paper's rate eta = lr * L_ref^-(1 - 1/frac); ``frac = 0`` means eta = lr / L_ref.

    ``reference="current"``: L_ref = L(theta_e), the loss at the step's start, so
    c = lr * L^(1/frac) (stateless).
    ``reference="previous"``: L_ref = L(theta_{e-1}), the loss of the previous accepted iterate,
    and L_ref = 1 before the first step, as the authors' scripts compute it; then
    c = lr * L(theta_e) * L(theta_{e-1})^-(1-1/frac), and the first step has eta = lr exactly.
    The reference moves only when a step is accepted.
    """
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; allowed: {', '.join(REFERENCES)}")
    power = 1.0 if frac == 0 else 1.0 - 1.0 / frac

    if reference == "current":
        return StepRule(
            init=lambda: {"lr": _f64(lr)},
            scale=lambda state, log_loss: state["lr"]
            * jnp.exp((1.0 - power) * log_loss.astype(jnp.float64)),
            update=_keep,
        )

    def scale(state, log_loss):
        return state["lr"] * jnp.exp(log_loss.astype(jnp.float64) - power * state["ref_log_loss"])

    def update(state, accepted, log_loss):
        ref = jnp.where(accepted, log_loss.astype(jnp.float64), state["ref_log_loss"])
        return {**state, "ref_log_loss": ref}

    return StepRule(init=lambda: {"lr": _f64(lr), "ref_log_loss": _f64(0.0)}, scale=scale,
                    update=update)


def backtracking(
    rule: StepRule, lr_limit: float, grow: float = 1.1, shrink: float = 1.1,
    growth: str = "capped",
) -> StepRule:
    """Wrap ``rule`` with the authors' backtracking on its ``lr`` (PAPERS.md §1.6).

    After each step the loss is recomputed. If it rose (or is not finite) the step is undone
    and lr <- lr / shrink. Otherwise lr grows: ``growth="capped"``: lr <- min(lr * grow,
    lr_limit); ``growth="while_below"`` (the authors' code): lr <- lr * grow only if
    lr < lr_limit, with no cap, so lr settles one factor above the limit (0.01 * 1.1^25 =
    0.10835 for lr_limit 0.1) and never grows when it starts at the limit.
    """
    if growth not in GROWTHS:
        raise ValueError(f"unknown growth {growth!r}; allowed: {', '.join(GROWTHS)}")

    def update(state, accepted, log_loss):
        state = rule.update(state, accepted, log_loss)
        lr = state["lr"]
        if growth == "capped":
            grown = jnp.minimum(lr * grow, lr_limit)
        else:
            grown = jnp.where(lr < lr_limit, lr * grow, lr)
        return {**state, "lr": jnp.where(accepted, grown, lr / shrink)}

    return StepRule(init=rule.init, scale=rule.scale, update=update, backtracks=True)

