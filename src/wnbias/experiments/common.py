"""Helpers shared by the experiments: dtypes, initial parameters, training, seed bookkeeping."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.gd import run_gd
from ..dynamics.schedules import StepRule
from ..dynamics.trajectory import Run, Status, Trajectory
from ..errors import ConfigError, NonFiniteLossError, SolverFailure
from ..initial import load_initial_parameters, seeded_weights
from ..progress import without_bars
from ..reparam import encode, get_reparam


def side_by_side(fn: Callable, items, threads: int = 2) -> list:
    """``[fn(item) for item in items]``, ``threads`` at a time: XLA compiles and runs without
    Python's lock, so on 2 cores the compilations of independent runs overlap (most of a
    first run's time). Results come in order; the first failure in order is raised once the
    calls already started have ended (what they recorded is kept), and none starts after it.
    Progress shows only the line of each finished phase: threads cannot share a bar."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with without_bars(), ThreadPoolExecutor(threads) as pool:
        # each call in a copy of this context: its phases keep the experiment's label
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def require_full_row_rank(matrix: np.ndarray, name: str, seed: int) -> None:
    """A :class:`ConfigError` when a drawn data matrix has rank below its row count (the
    under-determined analyses need full row rank)."""
    if np.linalg.matrix_rank(matrix) < matrix.shape[0]:
        raise ConfigError(f"seed={seed}: {name} has rank < n={matrix.shape[0]}; the analysis "
                          "needs full row rank")


def mean_square_step(eta: float, n: int) -> float:
    """The step on ||r||^2/2 that equals GD with step eta on (1/n)||r||^2 (Min et al.'s loss):
    2 eta / n, so flow time t = 2 eta k / n."""
    return 2 * eta / n


def flow_beside_gd(objective, theta0, data, clock, *, label: str,
                   partial: dict[str, Trajectory], record=None, n_save: int = 200,
                   **options) -> Run:
    """The gradient flow from the same starts as a batched GD run (``theta0`` with a leading
    seed axis), all seeds in one compiled solve; its trajectory goes into ``partial`` under
    ``label``. Raises :class:`SolverFailure` (keeping ``partial``) if a seed's solve failed."""
    from ..dynamics.flow import run_flow  # diffrax: 0.5 s of import, for flows only

    run = run_flow(objective, theta0, data, clock, batched=True, record=record, n_save=n_save,
                   **options)
    return _solved(run, label, partial)


def _solved(run: Run, label: str, partial: dict[str, Trajectory]) -> Run:
    """``run`` with its trajectory added to ``partial``; :class:`SolverFailure` (keeping
    ``partial``) if any seed's solve failed."""
    partial[label] = run.trajectory
    if (np.asarray(run.trajectory.status) == Status.SOLVER_FAILURE).any():
        raise SolverFailure(f"{label}: {run.trajectory.message}", partial=partial)
    return run


def log_loss_gap(t_gd, log_loss_gd, t_flow, log_loss_flow) -> float:
    """max |log L_GD(t) - log L_flow(t)| at GD's recorded times within the flow's span (the
    flow's log-loss interpolated linearly in t)."""
    t_gd, t_flow = np.asarray(t_gd), np.asarray(t_flow)
    keep = t_gd <= t_flow[-1]
    return float(np.max(np.abs(np.asarray(log_loss_gd)[keep]
                               - np.interp(t_gd[keep], t_flow, log_loss_flow))))


def as_dtype(array, dtype: str):
    return jnp.asarray(array, dtype=jnp.dtype(dtype))


def initial_parameters(config, model, arms, n_seeds: int = 1) -> tuple[dict, int]:
    """``({arm: theta with a leading seed axis}, n_seeds)``: from ``config.init_from`` when set
    (its seed count wins), else ``n_seeds`` draws of ``config.init`` from ``config.seed``."""
    reparams = {arm: get_reparam(arm) for arm in arms}
    if config.init_from:
        return load_initial_parameters(config.init_from, model.layer_shapes, reparams,
                                       config.dtype)
    weights = seeded_weights(model, config.init, config.seed, n_seeds, config.dtype)
    return {arm: encoder(r, batched=True)(weights) for arm, r in reparams.items()}, n_seeds


@functools.cache
def encoder(reparam, batched: bool = False):
    """:func:`encode` with ``reparam`` (of a batch of seeds: ``batched``) as one compiled
    program: op by op, every norm and division of every layer shape is a program to compile,
    or to find in the cache, of its own."""
    def encode_one(weights):
        return encode(weights, reparam)

    return jax.jit(jax.vmap(encode_one) if batched else encode_one)


def step_counts(trajectory: Trajectory) -> dict:
    """Per seed: ``status``, ``steps`` (accepted steps) and ``epochs``, the EWN authors' count:
    steps + 1 for a run that reached its target (their loop takes one more step after the
    first iterate below it), steps otherwise."""
    names = trajectory.status_names()
    steps = [int(s) for s in trajectory.counts["steps"]]
    return {"status": names, "steps": steps,
            "epochs": [s + (n == "target") for s, n in zip(steps, names, strict=True)]}


def finished(metrics: dict, arm: str) -> np.ndarray:
    """Which seeds of ``arm`` reached the target."""
    return np.asarray(metrics[arm]["status"]) == "target"


def finished_note(metrics: dict, arms, labels: dict[str, str] | None = None) -> tuple[bool, str]:
    """(whether at least half the seeds of every arm in ``arms`` reached the target, and a note
    like 'seeds that reached the target: EWN 8/8, plain 7/8')."""
    labels = labels or {}
    masks = {arm: finished(metrics, arm) for arm in arms}
    enough = all(2 * m.sum() >= len(m) and m.any() for m in masks.values())
    note = "seeds that reached the target: " + ", ".join(
        f"{labels.get(arm, arm)} {int(m.sum())}/{len(m)}" for arm, m in masks.items())
    return enough, note


def check_finite(run: Run, label: str, partial: dict[str, Trajectory]) -> None:
    """Raise :class:`NonFiniteLossError`, keeping the trajectories in ``partial``, if a seed of
    ``run`` hit a NaN/inf loss (so a failed run keeps everything recorded so far)."""
    t = run.trajectory
    bad = np.flatnonzero(np.asarray(t.status) == Status.NONFINITE)
    if bad.size:
        seed = int(bad[0])
        wider = "" if np.asarray(t.series["log_loss"]).dtype == np.float64 else " or use float64"
        raise NonFiniteLossError(
            f"{label}: the loss became non-finite after step {int(t.counts['steps'][seed])} "
            f"(seed index {seed}, last log-loss {float(run.log_loss[seed]):.4g}); "
            f"lower the learning rate (lr / lr_limit){wider}",
            partial=partial,
        )


def train(
    objective, theta0, data, *, dynamics: str, label: str, rule: StepRule | None = None,
    target_log_loss: float, max_steps: int = 0, record, n_log: int = 400,
    flow: dict | None = None, partial: dict[str, Trajectory], progress: bool = False,
) -> Run:
    """Train a batch of seeds (``theta0`` with a leading seed axis) by ``dynamics="gd"`` (with
    ``rule`` and ``max_steps``) or one seed by ``"flow"`` (diffrax in the log-loss clock; ``flow``
    holds its options). The trajectory is added to ``partial`` under ``label``.

    Raises :class:`NonFiniteLossError` or :class:`SolverFailure` with ``partial``.
    """
    if dynamics == "gd":
        run = run_gd(objective, theta0, data, rule, max_steps=max_steps, batched=True,
                     target_log_loss=target_log_loss, record=record, n_log=n_log,
                     progress=progress, label=label)
        partial[label] = run.trajectory
        check_finite(run, label, partial)
        return run
    from ..dynamics.flow import LogLossClock, run_flow  # diffrax: for flows only

    run = run_flow(objective, jax.tree.map(lambda a: a[0], theta0), data,
                   clock=LogLossClock(target_log_loss=target_log_loss), record=record,
                   n_save=n_log, progress=progress, label=label, **(flow or {}))
    return _solved(run, label, partial)
