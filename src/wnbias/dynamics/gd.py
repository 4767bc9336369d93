"""Full-batch gradient descent as a jitted ``lax.scan``, many seeds at once under ``vmap``.

Each scanned iteration is one *attempt*: step ``theta - c grad(log L)`` with ``c`` from the
learning-rate rule, recompute ``log L`` and its gradient at the new point, and accept or (for a
backtracking rule) undo the step. ``steps`` counts accepted steps (the authors' epochs),
``attempts`` every try. The gradient at the accepted point is reused by the next attempt, so an
attempt costs one ``value_and_grad``.

A run stops at the first of: log L <= ``target_log_loss`` (status ``target``), ``max_steps``
accepted steps (``budget``), a non-finite loss under a rule that does not backtrack
(``nonfinite``: the last finite state is kept), or a backtracking rate that underflows
(``lr_underflow``). Stopped seeds idle while the others finish.

The trajectory is recorded at log-spaced accepted steps, plus the final state, into fixed
buffers carried through the scan, so memory does not grow with the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .schedules import StepRule

RUNNING, TARGET, BUDGET, NONFINITE, LR_UNDERFLOW = range(5)
STATUS_NAMES = ("running", "target", "budget", "nonfinite", "lr_underflow")
_LR_FLOOR = 1e-300


@dataclass(frozen=True)
class GDResult:
    """Final parameters and the recorded trajectory; every array has a leading seed axis.

    ``trajectory[key]`` has shape ``(seeds, slots, ...)``; slot j of seed s is valid for
    ``j < n_logged[s]`` (the rest is NaN, or -1 for the integer keys). Keys: ``step``,
    ``attempt``, ``log_loss``, ``lr`` and whatever ``record(theta)`` returned.
    """

    theta: Any
    trajectory: dict[str, np.ndarray]
    n_logged: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    attempts: np.ndarray
    log_loss: np.ndarray

    def status_names(self) -> list[str]:
        return [STATUS_NAMES[s] for s in self.status]

    def series(self, key: str, seed: int = 0) -> np.ndarray:
        """The valid part of ``trajectory[key]`` for one seed."""
        return self.trajectory[key][seed, : self.n_logged[seed]]


def log_spaced_steps(max_steps: int, n_log: int) -> np.ndarray:
    """0 followed by about ``n_log`` distinct integers log-spaced in [1, max_steps]."""
    grid = np.unique(np.round(np.geomspace(1, max(max_steps, 1), n_log)).astype(np.int64))
    return np.concatenate([[0], grid])


def _finite(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


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
    progress: bool = False,
) -> GDResult:
    """Run GD on ``log_loss(theta, *data)`` from ``theta0``.

    ``batched``: ``theta0`` carries a leading seed axis and the seeds run together under
    ``vmap``; ``data_batched``: the data carry it too (otherwise they are shared).
    ``record(theta)`` returns small arrays logged with the trajectory.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps}")
    if not batched:
        theta0 = jax.tree.map(lambda a: a[None], theta0)
        if data_batched:
            data = jax.tree.map(lambda a: a[None], data)
    max_attempts = max_attempts or 10 * max_steps + 10_000
    log_steps = jnp.asarray(log_spaced_steps(max_steps, n_log))
    n_slots = len(log_steps) + 1
    record = record or (lambda theta: {})
    value_and_grad = jax.value_and_grad(log_loss)

    def snapshot(state):
        return {
            "step": state["steps"],
            "attempt": state["attempts"],
            "log_loss": state["log_loss"],
            "lr": state["rule"]["lr"],
            **record(state["theta"]),
        }

    def write(state, do_write):
        k = jnp.minimum(state["k"], n_slots - 1)
        snap = snapshot(state)
        buf = {
            key: b.at[k].set(jnp.where(do_write, snap[key].astype(b.dtype), b[k]))
            for key, b in state["buf"].items()
        }
        return {
            **state,
            "buf": buf,
            "k": state["k"] + do_write,
            "last_logged": jnp.where(do_write, state["steps"], state["last_logged"]),
        }

    def init(theta, data):
        value, grad = value_and_grad(theta, *data)
        rule_state = rule.init()
        finite = jnp.isfinite(value) & _finite(grad)
        status = jnp.where(
            ~finite, NONFINITE, jnp.where(value <= target_log_loss, TARGET, RUNNING)
        )
        state = {
            "theta": theta, "log_loss": value, "grad": grad, "rule": rule_state,
            "steps": jnp.asarray(0), "attempts": jnp.asarray(0), "status": status,
            "k": jnp.asarray(0), "last_logged": jnp.asarray(-1),
        }
        snap = snapshot({**state, "buf": None})
        state["buf"] = {
            key: jnp.full((n_slots, *jnp.shape(v)), -1 if jnp.issubdtype(
                jnp.asarray(v).dtype, jnp.integer) else jnp.nan, jnp.asarray(v).dtype)
            for key, v in snap.items()
        }
        return write(state, jnp.asarray(True))

    def attempt(state, data):
        running = state["status"] == RUNNING
        c = rule.scale(state["rule"], state["log_loss"])
        theta_new = jax.tree.map(lambda p, g: p - c * g, state["theta"], state["grad"])
        value_new, grad_new = value_and_grad(theta_new, *data)
        finite = jnp.isfinite(value_new) & _finite(grad_new)
        accepted = finite & (value_new <= state["log_loss"]) if rule.backtracks else finite
        accepted = accepted & running

        def pick(new, old):
            return jax.tree.map(lambda a, b: jnp.where(accepted, a, b), new, old)

        rule_state = jax.tree.map(
            lambda a, b: jnp.where(running, a, b), rule.update(state["rule"], accepted),
            state["rule"],
        )
        steps = state["steps"] + accepted
        attempts = state["attempts"] + running
        log_loss_now = jnp.where(accepted, value_new, state["log_loss"])
        status = jnp.select(
            [
                ~running,
                ~finite & (not rule.backtracks),
                log_loss_now <= target_log_loss,
                steps >= max_steps,
                attempts >= max_attempts,
                rule_state["lr"] < _LR_FLOOR,
            ],
            [state["status"], NONFINITE, TARGET, BUDGET, BUDGET, LR_UNDERFLOW],
            RUNNING,
        )
        state = {
            **state,
            "theta": pick(theta_new, state["theta"]),
            "log_loss": log_loss_now,
            "grad": pick(grad_new, state["grad"]),
            "rule": rule_state,
            "steps": steps,
            "attempts": attempts,
            "status": status,
        }
        k = jnp.minimum(state["k"], len(log_steps) - 1)
        on_grid = accepted & (steps == log_steps[k])
        stopped_now = running & (status != RUNNING) & (steps != state["last_logged"])
        return write(state, on_grid | stopped_now), None

    data_axes = jax.tree.map(lambda _: 0 if data_batched else None, data)

    @jax.jit
    def run_chunk(state, data):
        def one(state, data):
            return jax.lax.scan(lambda s, _: attempt(s, data), state, None, length=chunk)[0]

        return jax.vmap(one, in_axes=(0, data_axes))(state, data)

    state = jax.jit(jax.vmap(init, in_axes=(0, data_axes)))(theta0, data)
    with tqdm(total=max_steps, disable=not progress, desc="GD steps", leave=False) as bar:
        while bool(jnp.any(state["status"] == RUNNING)):
            state = run_chunk(state, data)
            running = np.asarray(state["status"]) == RUNNING
            done_steps = np.asarray(state["steps"])[running].min() if running.any() else max_steps
            bar.update(int(done_steps) - bar.n)
            bar.set_postfix(log_loss=f"{float(np.max(np.asarray(state['log_loss']))):.1f}")

    return GDResult(
        theta=jax.tree.map(np.asarray, state["theta"]),
        trajectory=jax.tree.map(np.asarray, state["buf"]),
        n_logged=np.asarray(state["k"]),
        status=np.asarray(state["status"]),
        steps=np.asarray(state["steps"]),
        attempts=np.asarray(state["attempts"]),
        log_loss=np.asarray(state["log_loss"]),
    )
