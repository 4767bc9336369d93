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

from ..programs import FAST_COMPILING, call, fingerprint_of, one_seed, traced
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


def _attempt(state, data, fresh, log_loss, rule, limits):
    """One attempted step of one seed (under vmap); returns the state and whether to log.

    ``fresh``: the run's first iteration, which evaluates the start itself instead of a step
    from it, counts no step and no attempt, and logs the start. So the start shares the loop's
    one compiled evaluation of the objective, and a run is one program."""
    max_steps, max_attempts, target, patience = limits
    running = state["status"] == RUNNING
    updates, proposed = rule.update(state["grad"], state["rule"], state["theta"],
                                    state["log_loss"])
    stepped = _retraction(log_loss)(jax.tree.map(jnp.add, state["theta"], updates))
    # a select, which fuses into the step's own elementwise pass (a lax.cond here copied theta
    # every step: min-width-bias at h = 10 000 ran 1.3x slower)
    theta_new = jax.tree.map(lambda t, s: jnp.where(fresh, t, s), state["theta"], stepped)
    (value_new, terms_new), grad_new = _terms_and_grad(log_loss)(theta_new, *data)
    finite = jnp.isfinite(value_new) & _finite(grad_new)
    log_ratio = _log_ratio(terms_new, state["terms"])
    accepted = finite & (log_ratio <= 0) if rule.backtracks else finite
    accepted = (accepted & running) | fresh
    counted = running & ~fresh
    stuck = jnp.where(finite & (log_ratio < 0) & accepted, 0, state["stuck"] + counted)

    def pick(new, old):
        return jax.tree.map(lambda a, b: jnp.where(accepted, a, b), new, old)

    judged = rule.feedback(pick(proposed, state["rule"]), accepted, state["log_loss"])
    rule_state = jax.tree.map(lambda a, b: jnp.where(counted, a, b), judged, state["rule"])
    steps = state["steps"] + (accepted & ~fresh)
    attempts = state["attempts"] + counted
    log_loss_now = jnp.where(accepted, value_new, state["log_loss"])
    status = jnp.select(
        [
            ~running & ~fresh,
            ~finite & (fresh | (not rule.backtracks)),
            log_loss_now <= target,
            fresh,
            steps >= max_steps,
            (attempts >= max_attempts) | (stuck >= patience),
            rule_state["lr"] < _LR_FLOOR if "lr" in rule_state else False,
        ],
        [state["status"], NONFINITE, TARGET, RUNNING, BUDGET, STALLED, LR_UNDERFLOW],
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
    return new, on_grid | stopped_now | fresh


@partial(jax.jit, static_argnames=("log_loss", "rule", "record", "data_batched", "chunk"))
def _run_chunk(state, data, log_steps, limits, fresh, *, log_loss, rule, record, data_batched,
               chunk):
    """``chunk`` iterations; with ``fresh``, the first evaluates the start (see _attempt)."""
    data_axes = _data_axes(data, data_batched)
    attempt = jax.vmap(
        lambda s, d, f: _attempt(s, d, f, log_loss, rule, limits), in_axes=(0, data_axes, None)
    )

    def active(state, fresh):
        state, do_write = attempt(state, data, fresh)
        return jax.lax.cond(
            jnp.any(do_write),
            lambda s: _write(s, do_write, record, log_steps),
            lambda s: s,
            state,
        )

    def body(carry, _):
        state, fresh = carry
        # once every seed has stopped, the rest of the chunk costs nothing
        running = jnp.any(state["status"] == RUNNING)
        state = jax.lax.cond(running, active, lambda s, f: s, state, fresh)
        return (state, jnp.zeros_like(fresh)), None

    return jax.lax.scan(body, (state, fresh), None, length=chunk)[0][0]


def _blank_state(theta, rule_state, data, log_steps, log_loss, record, data_batched, n_slots):
    """The loop's state before its first iteration, built here without compiling anything:
    the start's log-loss, terms and gradient are placeholders its first iteration fills (their
    shapes from :func:`_one_seed`), and the trajectory buffers are empty."""
    n_seeds = len(jax.tree.leaves(theta)[0])
    _, shapes = _one_seed(log_loss, record, theta, data, data_batched)
    (value, terms), grad = shapes["value"]

    def blank(s, fill=0):
        return np.full((n_seeds, *s.shape), fill, s.dtype)

    integer = np.zeros((n_seeds,), jax.dtypes.canonicalize_dtype(int))  # as jnp.asarray(0)
    state = {
        "theta": theta, "log_loss": blank(value), "terms": blank(terms),
        "grad": jax.tree.map(blank, grad), "rule": rule_state,
        **{name: integer.copy() for name in ("steps", "attempts", "stuck", "k")},
        "status": np.full_like(integer, int(RUNNING)), "next_log": np.full_like(integer,
                                                                                log_steps[0]),
        "last_logged": np.full_like(integer, -1),
    }
    snapshot = {"step": integer, "attempt": integer, "log_loss": blank(value),
                **({"lr": np.asarray(rule_state["lr"])} if "lr" in rule_state else {}),
                **{key: blank(s) for key, s in shapes["record"].items()}}

    def empty(a):
        fill = -1 if np.issubdtype(a.dtype, np.integer) else np.nan
        return np.full((a.shape[0], n_slots, *a.shape[1:]), fill, a.dtype)

    state["buf"] = {key: empty(np.asarray(a)) for key, a in snapshot.items()}
    return state


_ONE_SEED: dict = {}  # this process's traces of objectives and records, by them and shapes


def _one_seed(log_loss, record, theta, data, data_batched) -> tuple[tuple[str, str], dict]:
    """The jaxprs (as :func:`~wnbias.programs.fingerprint_of`) and output shapes of the
    objective's value, terms and gradient and of ``record`` on one seed, traced once per
    process for each objective, record and shapes."""
    one = one_seed(theta)
    data = one_seed(data) if data_batched else jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), data)
    leaves, tree = jax.tree.flatten((one, data))
    key = (log_loss, record, tree, tuple((a.shape, str(a.dtype)) for a in leaves))
    if key not in _ONE_SEED:
        value_text, value = traced(_terms_and_grad(log_loss), one, *data)
        record_text, recorded = traced(record, one)
        _ONE_SEED[key] = (value_text, record_text), {"value": value, "record": recorded}
    return _ONE_SEED[key]


def _fingerprint(state, data, *, log_loss, rule, record, data_batched, chunk) -> tuple[str, ...]:
    """What determines _run_chunk's program besides its arguments' shapes and this module's
    code: the jaxprs of the objective (value, terms, gradient), its retraction, the rule's
    update and feedback and the record on one seed, and the other statics."""
    texts, _ = _one_seed(log_loss, record, state["theta"], data, data_batched)
    theta, rule_state, value = (one_seed(state[k]) for k in ("theta", "rule", "log_loss"))
    accepted = jax.ShapeDtypeStruct((), np.bool_)
    return (*texts, fingerprint_of(_retraction(log_loss), theta),
            fingerprint_of(rule.update, theta, rule_state, theta, value),
            fingerprint_of(rule.feedback, rule_state, accepted, value),
            repr((rule.backtracks, data_batched, chunk)))


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
    # the bookkeeping around the compiled loop is NumPy: each jnp operation run here would be
    # a small program of its own to compile (or to find in the cache) for every shape
    if not batched:
        theta0 = jax.tree.map(lambda a: np.asarray(a)[None], theta0)
        if data_batched:
            data = jax.tree.map(lambda a: np.asarray(a)[None], data)
    n_seeds = len(jax.tree.leaves(theta0)[0])
    if rule_state is None:
        rule_state = rule.init(jax.tree.map(lambda a: np.asarray(a)[0], theta0))
        batched_state = False
    else:
        batched_state = batched
    rule_state = jax.tree.map(
        lambda a: np.asarray(a) if batched_state
        else np.broadcast_to(np.asarray(a)[None], (n_seeds, *np.shape(a))), rule_state)
    max_attempts = max_attempts or 10 * max_steps + 10_000
    grid = log_spaced_steps(max_steps, n_log)
    # Padded to its longest, 0 and min(n_log, max_steps) distinct steps, with its last step,
    # which the loop falls back to anyway once the grid is used up: the buffers' size then
    # depends on n_log alone for every budget max_steps >= n_log, which therefore share one
    # compiled program. The slots a run cannot fill are cut off below.
    n_kept = len(grid) + 1  # every grid step and the final state
    longest = min(max(n_log, 0), max_steps) + 1
    log_steps = np.concatenate([grid, np.full(longest - len(grid), grid[-1])])
    statics = dict(log_loss=log_loss, rule=_Rule.of(rule), record=record or _no_record,
                   data_batched=data_batched)
    # Python scalars: weakly typed inside the loop, as jnp.asarray would make them (a float32
    # run compares its log-loss with the target in float32), and no program to convert them
    limits = (int(max_steps), int(max_attempts), float(target_log_loss), int(patience))
    state = _blank_state(theta0, rule_state, data, log_steps, log_loss, statics["record"],
                         data_batched, n_slots=len(log_steps) + 1)
    fresh = True
    with Phase(label, "GD", enabled=progress) as phase:
        while fresh or bool(np.any(np.asarray(state["status"]) == RUNNING)):
            chunk_args = (state, data, log_steps, limits, np.asarray(fresh))
            state = call(_run_chunk, chunk_args, {**statics, "chunk": chunk},
                         lambda s=state: _fingerprint(s, data, **statics, chunk=chunk),
                         options=FAST_COMPILING)
            fresh = False
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
