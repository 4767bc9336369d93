"""Step rules for GD on a loss tracked in the log domain (PAPERS.md §1.6), in optax's shape.

A rule is three pure functions:

- ``init(params) -> state``: a dict of float64 scalars (float64 even when the run is float32,
  so that a reference loss near e^-300 keeps its digits). Every hyperparameter lives here,
  not in a closure, so rules of one kind share compiled code and a sweep over a learning rate
  or a ratio is one compiled program (``run_gd(..., rule_state=...)`` with a batch of states);
- ``update(grad, state, params, log_loss) -> (updates, state)``: the step from ``params``
  (theta_e) is ``params + updates``, leaf by leaf, where ``grad = grad(log L)(theta_e)`` and
  ``log_loss = log L(theta_e)``; the returned state is kept only if the step is accepted;
- ``feedback(state, accepted, log_loss) -> state``: after the attempt is judged, with
  ``log_loss`` the log-loss of the point it started from (backtracking changes lr here, the
  authors' rule moves its reference loss).

Since grad L = L grad(log L), a rule whose effective rate on the true loss is eta steps by
``-eta * L * grad(log L)``. ``backtracks`` says whether a step that raises the loss is undone.

The EWN authors' scripts (DepenM/Exp-WN) step on the loss normalized by the **previous** accepted
iterate's loss, eta_e = lr_e L(theta_{e-1})^-(1-1/frac) with L = 1 before the first step, and
grow their backtracking rate only **while below** its limit: ``loss_adaptive(...,
reference="previous")`` inside ``backtracking(..., growth="while_below")``. The defaults (the
current loss, growth capped at the limit) are the stateless reading of the paper's formula.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

REFERENCES = ("current", "previous")
GROWTHS = ("capped", "while_below")


def keep(state: dict, accepted: Array, log_loss: Array) -> dict:
    """The feedback of a rule that ignores how its step was judged."""
    return state


class StepRule(NamedTuple):
    init: Callable[[Any], dict]
    update: Callable[[Any, dict, Any, Array], tuple[Any, dict]]
    feedback: Callable[[dict, Array, Array], dict] = keep
    backtracks: bool = False


def _f64(value) -> Array:
    return jnp.asarray(value, jnp.float64)


def _scaled(grad, c: Array):
    """-c * grad, cast leaf by leaf to the parameters' dtype (c is a float64 scalar)."""
    return jax.tree.map(lambda g: -c.astype(g.dtype) * g, grad)


def _constant_update(grad, state, params, log_loss):
    return _scaled(grad, state["lr"] * jnp.exp(log_loss.astype(jnp.float64))), state


def constant(lr: float) -> StepRule:
    """Plain GD on L: eta = lr, i.e. the step -lr * L * grad(log L)."""
    return StepRule(init=lambda params: {"lr": _f64(lr)}, update=_constant_update)


@cache
def _ratio_update(labels: Callable) -> Callable:
    def update(grad, state, params, log_loss):
        rate = state["lr"] * jnp.exp(log_loss.astype(jnp.float64))
        steps = jax.tree.map(lambda g, tag: -(rate * state["ratio"][tag]).astype(g.dtype) * g,
                             grad, labels(params))
        return steps, state

    return update


def constant_by_label(lr: float, labels: Callable[[Any], Any],
                      ratios: Mapping[str, float]) -> StepRule:
    """GD on L with one rate lr times a fixed ratio per label, eta_leaf = lr * ratios[label]
    (``labels(params)`` maps every leaf to a label): Chou et al.'s radial and angular rates
    eta_r = lr, eta_theta = lr / rho. Unlike :func:`by_label` it has one ``lr``, so
    :func:`backtracking` can wrap it and keep the ratios. State: ``lr``, ``ratio`` (a dict)."""
    return StepRule(
        init=lambda params: {"lr": _f64(lr), "ratio": {k: _f64(v) for k, v in ratios.items()}},
        update=_ratio_update(labels))


def _current_update(grad, state, params, log_loss):
    return _scaled(grad, state["lr"] * jnp.exp((1.0 - state["power"])
                                               * log_loss.astype(jnp.float64))), state


def _previous_update(grad, state, params, log_loss):
    c = state["lr"] * jnp.exp(log_loss.astype(jnp.float64) - state["power"] * state["ref_log_loss"])
    return _scaled(grad, c), state


def _previous_feedback(state, accepted, log_loss):
    ref = jnp.where(accepted, log_loss.astype(jnp.float64), state["ref_log_loss"])
    return {**state, "ref_log_loss": ref}


def loss_adaptive(lr: float, frac: float, reference: str = "current") -> StepRule:
    """The EWN paper's rate eta = lr * L_ref^-(1 - 1/frac); ``frac = 0`` means eta = lr / L_ref.

    ``reference="current"``: L_ref = L(theta_e), the loss at the step's start, so the step is
    -lr L^(1/frac) grad(log L) (stateless).
    ``reference="previous"``: L_ref = L(theta_{e-1}), the loss of the previous accepted iterate,
    and L_ref = 1 before the first step, as the authors' scripts compute it; the step is
    -lr L(theta_e) L(theta_{e-1})^-(1-1/frac) grad(log L), and the first has eta = lr exactly.
    The reference moves only when a step is accepted. State: ``lr``, ``power`` = 1 - 1/frac.
    """
    if reference not in REFERENCES:
        raise ValueError(f"unknown reference {reference!r}; allowed: {', '.join(REFERENCES)}")
    power = 1.0 if frac == 0 else 1.0 - 1.0 / frac
    if reference == "current":
        return StepRule(init=lambda params: {"lr": _f64(lr), "power": _f64(power)},
                        update=_current_update)
    return StepRule(
        init=lambda params: {"lr": _f64(lr), "power": _f64(power), "ref_log_loss": _f64(0.0)},
        update=_previous_update, feedback=_previous_feedback,
    )


@cache
def _backtracking_feedback(inner: Callable, growth: str) -> Callable:
    def feedback(state, accepted, log_loss):
        state = inner(state, accepted, log_loss)
        lr = state["lr"]
        if growth == "capped":
            grown = jnp.minimum(lr * state["grow"], state["lr_limit"])
        else:
            grown = jnp.where(lr < state["lr_limit"], lr * state["grow"], lr)
        return {**state, "lr": jnp.where(accepted, grown, lr / state["shrink"])}

    return feedback


def backtracking(
    rule: StepRule, lr_limit: float, grow: float = 1.1, shrink: float = 1.1,
    growth: str = "capped",
) -> StepRule:
    """Wrap ``rule`` (whose state has an ``lr``) with the authors' backtracking on that lr.

    After each step the loss is recomputed. If it rose (or is not finite) the step is undone
    and lr <- lr / shrink. Otherwise lr grows: ``growth="capped"``: lr <- min(lr * grow,
    lr_limit); ``growth="while_below"`` (the authors' code): lr <- lr * grow only if
    lr < lr_limit, with no cap, so lr settles one factor above the limit (0.01 * 1.1^25 =
    0.10835 for lr_limit 0.1) and never grows when it starts at the limit.
    """
    if growth not in GROWTHS:
        raise ValueError(f"unknown growth {growth!r}; allowed: {', '.join(GROWTHS)}")

    def init(params):
        state = rule.init(params)
        if "lr" not in state:
            raise ValueError("backtracking needs a rule with one learning rate 'lr' in its "
                             f"state; this one has {', '.join(state)}")
        return {**state, "lr_limit": _f64(lr_limit), "grow": _f64(grow), "shrink": _f64(shrink)}

    return StepRule(init=init, update=rule.update,
                    feedback=_backtracking_feedback(rule.feedback, growth), backtracks=True)


@cache
def _labelled(labels: Callable, names: tuple[str, ...], updates: tuple, feedbacks: tuple):
    """The update and feedback of :func:`by_label` (cached: one compiled program per kind)."""

    def split(tree, params):
        leaves, treedef = jax.tree.flatten(tree)
        tags = jax.tree.leaves(labels(params))
        return leaves, treedef, tags

    def update(grad, state, params, log_loss):
        grads, treedef, tags = split(grad, params)
        flat_params = jax.tree.leaves(params)
        out = [None] * len(grads)
        new_state = {}
        for name, rule_update in zip(names, updates, strict=True):
            mine = [i for i, tag in enumerate(tags) if tag == name]
            steps, new_state[name] = rule_update(
                [grads[i] for i in mine], state[name], [flat_params[i] for i in mine], log_loss)
            for i, step in zip(mine, steps, strict=True):
                out[i] = step
        return jax.tree.unflatten(treedef, out), new_state

    def feedback(state, accepted, log_loss):
        return {name: fb(state[name], accepted, log_loss)
                for name, fb in zip(names, feedbacks, strict=True)}

    return update, feedback


def by_label(labels: Callable[[Any], Any], rules: Mapping[str, StepRule]) -> StepRule:
    """A different rule per group of leaves (optax's ``partition``).

    ``labels(params)`` returns a pytree of the parameters' structure whose leaves are names in
    ``rules``, e.g. the radial and angular coordinates of polar weight normalization with rates
    of a given ratio. Every leaf must carry a label; each rule sees only its own leaves. Its
    state is ``{label: state}``; no rule of the group may backtrack (wrap it around the group
    in a rule of its own instead).
    """
    if any(r.backtracks for r in rules.values()):
        raise ValueError("by_label takes rules that do not backtrack")
    names = tuple(rules)
    update, feedback = _labelled(labels, names, tuple(r.update for r in rules.values()),
                                 tuple(r.feedback for r in rules.values()))

    def init(params):
        tags = jax.tree.leaves(labels(params))
        unknown = sorted(set(tags) - set(names))
        if unknown or len(tags) != len(jax.tree.leaves(params)):
            raise ValueError(f"labels must give every leaf one of {', '.join(names)}; "
                             f"got {', '.join(map(str, unknown)) or 'a different structure'}")
        leaves = jax.tree.leaves(params)
        return {name: rules[name].init([leaf for leaf, t in zip(leaves, tags, strict=True)
                                        if t == name]) for name in names}

    return StepRule(init=init, update=update, feedback=feedback)


@cache
def _capped(inner_update: Callable, inner_feedback: Callable) -> tuple[Callable, Callable]:
    def update(grad, state, params, log_loss):
        steps, inner = inner_update(grad, state["inner"], params, log_loss)
        ratios = [jnp.max(jnp.abs(s) / jnp.maximum(jnp.abs(p), jnp.finfo(p.dtype).tiny))
                  for s, p in zip(jax.tree.leaves(steps), jax.tree.leaves(params), strict=True)]
        largest = jnp.max(jnp.stack(ratios)).astype(jnp.float64)
        shrink = jnp.minimum(1.0, state["max_relative_step"] / largest)
        return jax.tree.map(lambda s: s * shrink.astype(s.dtype), steps), {**state,
                                                                          "inner": inner}

    def feedback(state, accepted, log_loss):
        return {**state, "inner": inner_feedback(state["inner"], accepted, log_loss)}

    return update, feedback


def relative_rate_cap(rule: StepRule, max_relative_step: float) -> StepRule:
    """Shrink ``rule``'s step so that no coordinate moves by more than ``max_relative_step``
    times its own size, |d p_i| <= cap |p_i| (all leaves by one factor, so the direction is
    kept). Diagonal networks near a small initialization need it: a fixed step that ignores the
    relative rate of change breaks their sparse bias (PAPERS.md §2.6). State:
    ``{"inner": rule's state, "max_relative_step"}``."""
    update, feedback = _capped(rule.update, rule.feedback)

    def init(params):
        return {"inner": rule.init(params), "max_relative_step": _f64(max_relative_step)}

    return StepRule(init=init, update=update, feedback=feedback, backtracks=rule.backtracks)
