"""Full-batch gradient descent as a jitted ``lax.scan``, many seeds at once under ``vmap``.

Each scanned iteration is one *attempt*: step ``theta - c grad(log L)`` with ``c`` from the
learning-rate rule, recompute ``log L`` and its gradient at the new point, and accept or (for a
backtracking rule) undo the step. A backtracking rule accepts when L_new <= L_old (ties
accepted, as the authors do), compared as the ratio log(L_new/L_old) from the per-example
log-losses shifted by a common constant: the rounded log-losses themselves cannot tell a
relative change below about 2e-5 at log-loss -300 in float32. ``steps`` counts accepted steps,
``attempts`` every try. The gradient at the accepted point is reused by the next attempt, so an
attempt costs one ``value_and_grad``. The EWN authors count epochs, which is ``steps + 1`` for a
run stopped at its target: their loop takes one more step after the first iterate below it.

A run stops at the first of: log L <= ``target_log_loss`` (status ``target``), ``max_steps``
accepted steps (``budget``), a non-finite loss under a rule that does not backtrack
(``nonfinite``: the last finite state is kept), a backtracking rate that underflows
(``lr_underflow``), or ``stalled``: ``patience`` attempts in a row that did not lower the loss
(rejected, or accepted ties: backtracking at a ReLU kink shrinks lr until the steps change
nothing) or ``max_attempts`` attempts in all. A stalled run is stuck, which is not the same as
running out of steps. Stopped seeds idle while the others finish.

The trajectory is recorded at log-spaced accepted steps, plus the final state, into fixed
buffers carried through the scan, so memory does not grow with the number of steps. The scan
runs over the batch of seeds (``vmap`` inside the scan body) so that the rare trajectory writes
sit behind one real ``lax.cond`` instead of a per-seed select on every step.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..programs import call
from ..progress import Phase
from .schedules import StepRule
from .trajectory import Run, Status, Trajectory

RUNNING, TARGET, BUDGET, NONFINITE, LR_UNDERFLOW, STALLED = (
    Status.RUNNING, Status.TARGET, Status.BUDGET, Status.NONFINITE, Status.LR_UNDERFLOW,
    Status.STALLED)
_LR_FLOOR = 1e-300


def log_spaced_steps(max_steps: int, n_log: int) -> np.ndarray:
    """0 followed by about ``n_log`` distinct integers log-spaced in [1, max_steps]."""
    grid = np.unique(np.round(np.geomspace(1, max(max_steps, 1), n_log)).astype(np.int64))
    return np.concatenate([[0], grid])


def _terms_and_grad(log_loss):
    """``theta, *data -> ((log L, log l_i), grad log L)``, from the objective's
    ``value_and_terms`` (one evaluation of the model); a plain scalar ``log_loss`` counts as
    one term."""
    value_and_terms = getattr(log_loss, "value_and_terms", None)
    if value_and_terms is None:
        def value_and_terms(*a):
            value = log_loss(*a)
            return value, jnp.reshape(value, (1,))
    return jax.value_and_grad(value_and_terms, has_aux=True)


def _log_ratio(new_terms, old_terms) -> jax.Array:
    """log(L_new/L_old), from both sums shifted by max(old) so that it resolves relative
    changes far below the spacing of the log-losses themselves."""
    shift = jnp.max(old_terms)
    return logsumexp(new_terms - shift) - logsumexp(old_terms - shift)


def _finite(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def _data_axes(data, data_batched: bool):
    """vmap axes of the data: the seed axis 0 when each seed has its own data, else shared."""
    return jax.tree.map(lambda _: 0 if data_batched else None, data)


def _snapshot(state, record):
    lr = {"lr": state["rule"]["lr"]} if "lr" in state["rule"] else {}
    return {
        "step": state["steps"],
        "attempt": state["attempts"],
        "log_loss": state["log_loss"],
        **lr,
        **record(state["theta"]),
    }


class _Rule(NamedTuple):
    """What the compiled loop needs of a :class:`StepRule`: its functions, not its ``init`` (the
    initial state is an argument), so rules of one kind share one compiled program."""

    update: Callable
    feedback: Callable
    backtracks: bool

    @classmethod
    def of(cls, rule: StepRule) -> _Rule:
        return cls(rule.update, rule.feedback, rule.backtracks)


def _retraction(log_loss) -> Callable:
    """The objective's retraction after each step (rPGD renormalizes v), else the identity."""
    return getattr(log_loss, "retract", None) or (lambda theta: theta)


def _write(state, do_write, record, log_steps):
    """Write the seeds flagged in ``do_write`` into their next trajectory slot.

    Runs on the batched state, and only when some seed writes (log-spaced steps are rare), so
    the record and the buffer update cost nothing on most steps.
    """
    snap = jax.vmap(lambda s: _snapshot(s, record))(state)
    n_slots = next(iter(state["buf"].values())).shape[1]
    slot = (jnp.arange(n_slots)[None, :] == state["k"][:, None]) & do_write[:, None]
    buf = {}
    for key, b in state["buf"].items():
        mask = slot.reshape(slot.shape + (1,) * (b.ndim - 2))
        buf[key] = jnp.where(mask, snap[key][:, None].astype(b.dtype), b)
    k = state["k"] + do_write
    return {
        **state,
        "buf": buf,
        "k": k,
        "next_log": log_steps[jnp.minimum(k, len(log_steps) - 1)],
        "last_logged": jnp.where(do_write, state["steps"], state["last_logged"]),
    }


def _attempt(state, data, log_loss, rule, limits):
    """One attempted step of one seed (under vmap); returns the state and whether to log."""
    max_steps, max_attempts, target, patience = limits
    running = state["status"] == RUNNING
    updates, proposed = rule.update(state["grad"], state["rule"], state["theta"],
                                    state["log_loss"])
    theta_new = _retraction(log_loss)(jax.tree.map(jnp.add, state["theta"], updates))
    (value_new, terms_new), grad_new = _terms_and_grad(log_loss)(theta_new, *data)
    finite = jnp.isfinite(value_new) & _finite(grad_new)
    log_ratio = _log_ratio(terms_new, state["terms"])
    accepted = finite & (log_ratio <= 0) if rule.backtracks else finite
    accepted = accepted & running
    stuck = jnp.where(finite & (log_ratio < 0) & accepted, 0, state["stuck"] + running)

    def pick(new, old):
        return jax.tree.map(lambda a, b: jnp.where(accepted, a, b), new, old)

    judged = rule.feedback(pick(proposed, state["rule"]), accepted, state["log_loss"])
    rule_state = jax.tree.map(lambda a, b: jnp.where(running, a, b), judged, state["rule"])
    steps = state["steps"] + accepted
    attempts = state["attempts"] + running
    log_loss_now = jnp.where(accepted, value_new, state["log_loss"])
    status = jnp.select(
        [
            ~running,
            ~finite & (not rule.backtracks),
            log_loss_now <= target,
            steps >= max_steps,
            (attempts >= max_attempts) | (stuck >= patience),
            rule_state["lr"] < _LR_FLOOR if "lr" in rule_state else False,
        ],
        [state["status"], NONFINITE, TARGET, BUDGET, STALLED, LR_UNDERFLOW],
        RUNNING,
    )
    new = {
        **state,
        "theta": pick(theta_new, state["theta"]),
        "log_loss": log_loss_now,
        "terms": pick(terms_new, state["terms"]),
        "grad": pick(grad_new, state["grad"]),
        "rule": rule_state,
        "steps": steps,
        "attempts": attempts,
        "stuck": stuck,
        "status": status,
    }
    on_grid = accepted & (steps == state["next_log"])
    stopped_now = running & (status != RUNNING) & (steps != state["last_logged"])
    return new, on_grid | stopped_now


@partial(jax.jit, static_argnames=("log_loss", "rule", "record", "data_batched", "chunk"))
def _run_chunk(state, data, log_steps, limits, *, log_loss, rule, record, data_batched, chunk):
    data_axes = _data_axes(data, data_batched)
    attempt = jax.vmap(
        lambda s, d: _attempt(s, d, log_loss, rule, limits), in_axes=(0, data_axes)
    )

    def active(state):
        state, do_write = attempt(state, data)
        return jax.lax.cond(
            jnp.any(do_write),
            lambda s: _write(s, do_write, record, log_steps),
            lambda s: s,
            state,
        )

    def body(state, _):
        # once every seed has stopped, the rest of the chunk costs nothing
        running = jnp.any(state["status"] == RUNNING)
        return jax.lax.cond(running, active, lambda s: s, state), None

    return jax.lax.scan(body, state, None, length=chunk)[0]


@partial(jax.jit, static_argnames=("log_loss", "rule", "record", "data_batched", "n_slots"))
def _init(theta, rule_state, data, log_steps, target, *, log_loss, rule, record, data_batched,
          n_slots):
    data_axes = _data_axes(data, data_batched)

    def one(theta, rule_state, data):
        (value, terms), grad = _terms_and_grad(log_loss)(theta, *data)
        finite = jnp.isfinite(value) & _finite(grad)
        return {
            "theta": theta, "log_loss": value, "terms": terms, "grad": grad, "rule": rule_state,
            "steps": jnp.asarray(0), "attempts": jnp.asarray(0), "stuck": jnp.asarray(0),
            "status": jnp.where(~finite, NONFINITE, jnp.where(value <= target, TARGET, RUNNING)),
            "k": jnp.asarray(0), "next_log": log_steps[0], "last_logged": jnp.asarray(-1),
        }

    state = jax.vmap(one, in_axes=(0, 0, data_axes))(theta, rule_state, data)
    snap = jax.vmap(lambda s: _snapshot(s, record))(state)

    def empty(v):
        fill = -1 if jnp.issubdtype(v.dtype, jnp.integer) else jnp.nan
        return jnp.full((v.shape[0], n_slots, *v.shape[1:]), fill, v.dtype)

    state["buf"] = {key: empty(v) for key, v in snap.items()}
    return _write(state, jnp.ones(state["k"].shape, bool), record, log_steps)


def _no_record(theta) -> dict:
    return {}


def run_gd(
    log_loss: Callable[..., jax.Array],
    theta0,
    data: tuple,
    rule: StepRule,
    *,
    max_steps: int,
    target_log_loss: float = -np.inf,
    record: Callable[[Any], dict[str, jax.Array]] | None = None,
    batched: bool = False,
    data_batched: bool = False,
    n_log: int = 200,
    chunk: int = 2000,
    max_attempts: int | None = None,
    patience: int = 1000,
    rule_state=None,
    progress: bool = False,
    label: str = "",
) -> Run:
    """Run GD on ``log_loss(theta, *data)`` from ``theta0``.

    ``batched``: ``theta0`` carries a leading seed axis and the seeds run together under
    ``vmap``; ``data_batched``: the data carry it too (otherwise they are shared).
    ``record(theta)`` returns small arrays logged with the trajectory; it is evaluated only at
    the logged steps. ``patience``: attempts in a row without a lower loss before a seed is
    ``stalled``. ``rule_state``: the rule's initial state instead of ``rule.init(theta0)``; with
    ``batched``, a leading seed axis on it gives each seed its own hyperparameters, so a sweep
    over a learning rate is one call of one compiled program. Compiled code is reused across
    calls with the same ``log_loss`` and ``record`` objects, rules of the same kind (their
    hyperparameters are data), the same shapes, ``n_log`` and ``chunk``; the budgets
    (``max_steps`` as long as it is at least ``n_log``, ``max_attempts``, ``patience``,
    ``target_log_loss``) are data too.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps}")
    if not batched:
        theta0 = jax.tree.map(lambda a: a[None], theta0)
        if data_batched:
            data = jax.tree.map(lambda a: a[None], data)
    n_seeds = len(jax.tree.leaves(theta0)[0])
    if rule_state is None:
        rule_state = rule.init(jax.tree.map(lambda a: a[0], theta0))
        batched_state = False
    else:
        batched_state = batched
    rule_state = jax.tree.map(
        lambda a: jnp.asarray(a) if batched_state
        else jnp.broadcast_to(jnp.asarray(a)[None], (n_seeds, *jnp.shape(a))), rule_state)
    max_attempts = max_attempts or 10 * max_steps + 10_000
    grid = log_spaced_steps(max_steps, n_log)
    # Padded to its longest, 0 and min(n_log, max_steps) distinct steps, with its last step,
    # which the loop falls back to anyway once the grid is used up: the buffers' size then
    # depends on n_log alone for every budget max_steps >= n_log, which therefore share one
    # compiled program. The slots a run cannot fill are cut off below.
    n_kept = len(grid) + 1  # every grid step and the final state
    longest = min(max(n_log, 0), max_steps) + 1
    log_steps = jnp.asarray(np.concatenate([grid, np.full(longest - len(grid), grid[-1])]))
    statics = dict(log_loss=log_loss, rule=_Rule.of(rule), record=record or _no_record,
                   data_batched=data_batched)
    limits = (jnp.asarray(max_steps), jnp.asarray(max_attempts), jnp.asarray(target_log_loss),
              jnp.asarray(patience))
    init_args = (theta0, rule_state, data, log_steps, limits[2])
    state = call(_init, init_args, {**statics, "n_slots": len(log_steps) + 1})
    with Phase(label, "GD", enabled=progress) as phase:
        while bool(jnp.any(state["status"] == RUNNING)):
            chunk_args = (state, data, log_steps, limits)
            state = call(_run_chunk, chunk_args, {**statics, "chunk": chunk})
            running = np.asarray(state["status"]) == RUNNING
            done_steps = np.asarray(state["steps"])[running].min() if running.any() else max_steps
            phase.update(int(done_steps),
                         log_loss=f"{float(np.max(np.asarray(state['log_loss']))):.1f}")
        steps = np.asarray(state["steps"])
        phase.finish(f"{n_seeds} seed(s), {int(np.median(steps))} steps (median), log-loss "
                     f"{float(np.max(np.asarray(state['log_loss']))):.1f} (worst)")

    trajectory = Trajectory(
        series=jax.tree.map(lambda b: np.asarray(b)[:, :n_kept], state["buf"]),
        length=np.asarray(state["k"]),
        status=np.asarray(state["status"]),
        counts={"steps": np.asarray(state["steps"]), "attempts": np.asarray(state["attempts"])},
    )
    return Run(theta=jax.tree.map(np.asarray, state["theta"]), trajectory=trajectory)
