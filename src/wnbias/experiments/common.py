"""Helpers shared by the experiments: dtypes, seeds, the EWN paper's GD schedule, training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.flow import LogLossClock, run_flow
from ..dynamics.gd import STATUS_NAMES, GDResult, run_gd
from ..dynamics.schedules import StepRule, backtracking, loss_adaptive
from ..errors import NonFiniteLossError, SolverFailure
from ..initial import load_initial_parameters, seeded_weights
from ..reparam import encode, get_reparam

DTYPES = ("float64", "float32")
EWN_ARMS = ("plain", "swn", "ewn")  # the parameterizations Morwani & Ramaswamy compare
INIT_DOC = ("torch: PyTorch's nn.Linear default init under torch.manual_seed(seed + i), the "
            "authors' weights; jax: jax.random draws")
INIT_FROM_DOC = ("start from the weights in this .npz instead of init (keys layer1, "
                 "<arm>/layer1 or <arm>/layer1/<param>, e.g. ewn/layer1/a; a leading axis "
                 "gives several seeds; see README)")


def seed_keys(seed: int, n_seeds: int) -> jax.Array:
    """``n_seeds`` independent PRNG keys derived from one integer seed."""
    return jax.random.split(jax.random.PRNGKey(seed), n_seeds)


SCHEDULES = ("authors", "paper")


def ewn_schedule(
    schedule: str, lr: float, frac: float, lr_limit: float, grow: float, shrink: float,
    backtrack: bool = True,
) -> StepRule:
    """The EWN paper's GD, eta = lr L_ref^-(1-1/frac) with backtracking on lr (PAPERS.md §1.6).

    ``schedule="authors"``: their scripts' rule, L_ref the previous accepted iterate's loss (1
    before the first step) and lr grown only while below ``lr_limit``; ``"paper"``: the
    stateless reading, L_ref the current loss and lr capped at ``lr_limit``.
    ``backtrack=False`` keeps lr fixed and accepts every step (a NaN loss then stops the run).
    """
    authors = schedule == "authors"
    rule = loss_adaptive(lr, frac, reference="previous" if authors else "current")
    if not backtrack:
        return rule
    return backtracking(rule, lr_limit, grow, shrink,
                        growth="while_below" if authors else "capped")


def initial_parameters(config, model, arms, n_seeds: int = 1) -> tuple[dict, int]:
    """``({arm: theta with a leading seed axis}, n_seeds)``: from ``config.init_from`` when set
    (its seed count wins), else ``n_seeds`` draws of ``config.init`` from ``config.seed``."""
    reparams = {arm: get_reparam(arm) for arm in arms}
    if config.init_from:
        return load_initial_parameters(config.init_from, model.layer_shapes, reparams,
                                       config.dtype)
    weights = seeded_weights(model, config.init, config.seed, n_seeds, config.dtype)
    return {arm: jax.vmap(lambda w, r=r: encode(w, r))(weights)
            for arm, r in reparams.items()}, n_seeds


def step_counts(result: GDResult) -> dict:
    """Per seed: ``status``, ``steps`` (accepted steps) and ``epochs``, the EWN authors' count:
    steps + 1 for a run that reached its target (their loop takes one more step after the
    first iterate below it), steps otherwise."""
    names = result.status_names()
    steps = [int(s) for s in result.steps]
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


def as_dtype(array, dtype: str):
    return jnp.asarray(array, dtype=jnp.dtype(dtype))


def keep_gd(trajectory: dict, prefix: str, result: GDResult, label: str) -> None:
    """Add a batched GD result to ``trajectory`` under ``prefix/``, then :func:`check_finite`
    (so a non-finite loss stops the run with everything recorded so far)."""
    trajectory.update({f"{prefix}/{k}": v for k, v in result.trajectory.items()})
    trajectory[f"{prefix}/n_logged"] = result.n_logged
    check_finite(result, label, trajectory)


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


@dataclass(frozen=True)
class Path:
    """One trained run, by GD or by gradient flow, in a form the experiments share.

    ``series[key]`` holds the recorded values along the run (``log_loss`` always, and ``clock``:
    the GD step or the flow time t); ``counts`` the work done (GD steps and attempts, or solver
    steps, function evaluations and the final t).
    """

    series: dict[str, np.ndarray]
    theta: Any
    status: str
    counts: dict[str, float]


def train(
    log_loss, theta0, data, *, dynamics: str, label: str, rule: StepRule | None = None,
    target_log_loss: float, max_steps: int = 0, record, n_log: int = 400,
    flow: dict | None = None,
    progress: bool = False,
) -> Path:
    """Train one run by ``dynamics="gd"`` (with ``rule`` and ``max_steps``) or ``"flow"``
    (diffrax in the log-loss clock; ``flow`` holds its options).

    Raises :class:`NonFiniteLossError` or :class:`SolverFailure` with the trajectory so far.
    """
    if dynamics == "gd":
        result = run_gd(log_loss, theta0, data, rule, max_steps=max_steps,
                        target_log_loss=target_log_loss, record=record, n_log=n_log,
                        progress=progress)
        series = {k: result.series(k) for k in result.trajectory}
        series["clock"] = series["step"]
        check_finite(result, label, series)
        counts = {k: v for k, v in step_counts(result).items() if k != "status"}
        return Path(series, jax.tree.map(lambda a: a[0], result.theta), result.status_names()[0],
                    {**counts, "attempts": result.attempts.tolist()})
    solved = run_flow(log_loss, theta0, data, clock=LogLossClock(target_log_loss=target_log_loss),
                      record=record, n_save=n_log, progress=progress, **(flow or {}))
    series = {**solved.trajectory, "clock": solved.trajectory["t"]}
    if solved.status == "solver_failure":
        raise SolverFailure(f"{label}: {solved.message}", partial=series)
    return Path(series, solved.theta, solved.status,
                {"solver_steps": solved.num_steps, "function_evaluations": solved.nfe,
                 "time": solved.time})
