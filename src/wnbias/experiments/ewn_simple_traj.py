"""ewn-simple-traj: EWN trajectories go to a coordinate axis (Morwani & Ramaswamy, E1.2).

One point x = (2, 1), exponential loss exp(-<w, x>), linear model f = <w, x> in which every
coordinate is its own 1-d neuron. Unnormalized GD moves w along x (straight lines); under EWN,
w_i = exp(a_i) and the gradient flow is dw_i/dt = w_i^2 x_i e^{-<w,x>}, so
1/w_i(t) = 1/w_i(0) - x_i S(t) with S = int e^{-f}: the coordinate with the largest w_i(0) x_i
blows up first and the other converges to a finite value, i.e. the trajectory ends on that axis.
The GD rule is the authors' (frac 10, lr 0.01, lr_limit 0.1, x1.1 backtracking, the step set
by the previous iterate's loss, PAPERS.md §1.6) to log-loss -50; from their five starting points
it retraces their runs epoch for epoch (EWN 57/49/58/45/52, unnormalized 2770/2755/2763/2734/2755).
"""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
import numpy as np

from ..data.synthetic import single_point
from ..losses import get_loss
from ..models import coordinate_linear
from ..objective import make_log_loss
from ..reparam import decode, get_reparam
from .base import Claim, Outcome, Problem
from .common import as_dtype, encoder, finished, step_counts, train
from .specs.ewn_simple_traj import EXPERIMENT, Config, parse_inits  # noqa: F401  (re-exported)

# GD may overshoot the flow's off-axis limit slightly; a coordinate above this multiple of the
# limit is still growing, i.e. not on its way to the axis.
LIMIT_SLACK = 1.05
STRAIGHT_EPS = 100  # off the line by rounding alone: 7 eps seen in float64, 10 in float32


def predicted_axis(w0: np.ndarray, x: np.ndarray) -> int:
    """The EWN flow's winner: the coordinate with the largest w0_i x_i."""
    return int(np.argmax(w0 * x))


def off_axis_limits(w0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The EWN flow's finite limits of the coordinates that lose: 1/w_i(inf) = 1/w0_i - x_i S*.

    S* = 1/(w0_k x_k) is where the winning coordinate k blows up; the winner's entry is inf.
    """
    k = predicted_axis(w0, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = 1.0 / (1.0 / w0 - x / (w0[k] * x[k]))
    limits[k] = np.inf
    return limits


@cache  # one objective per dimension and arm: GD's compiled programs are keyed by it
def _objective(dim: int, arm: str):
    return make_log_loss(coordinate_linear(dim), get_reparam(arm), get_loss("exponential"))


@cache  # one function per parameterization, for the same reason
def _recorder(reparam):
    def record(theta):
        return {"w": decode(theta, reparam)["w"][:, 0]}

    return record


def setup(config: Config) -> Problem:
    """One point, the coordinate model, and every init encoded per arm (the inits are the seeds)."""
    data = tuple(as_dtype(a, config.dtype) for a in single_point(config.point))
    weights0 = {"w": as_dtype(parse_inits(config.inits, len(config.point))[:, :, None],
                              config.dtype)}
    arms = {name: get_reparam(name) for name in config.parameterizations}
    return Problem(
        data=data,
        objectives={name: _objective(len(config.point), name) for name in arms},
        initial={name: encoder(r, batched=True)(weights0) for name, r in arms.items()},
    )


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    trajectories, metrics = {}, {"inits": parse_inits(config.inits, len(config.point)).tolist()}
    for name, objective in problem.objectives.items():
        reparam = objective.spec
        result = train(
            objective, problem.initial[name], problem.data, dynamics="gd",
            label=name, rule=config.gd.rule(name), max_steps=config.gd.max_steps,
            target_log_loss=config.target_log_loss, n_log=400, partial=trajectories,
            record=_recorder(reparam), progress=progress,
        )
        finals = result.trajectory.final("w")
        metrics[name] = {**step_counts(result.trajectory), "final_direction": (
            finals / np.linalg.norm(finals, axis=1, keepdims=True)).round(4).tolist()}
    return Outcome(metrics, trajectories)


def _paths(outcome: Outcome, name: str) -> list[np.ndarray]:
    t = outcome.trajectories[name]
    return [t.valid("w", i) for i in range(t.n_seeds)]


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    inits = np.asarray(outcome.metrics["inits"])
    paths = {n: _paths(outcome, n) for n in config.parameterizations}
    steps = {n: np.asarray(outcome.metrics[n]["epochs"]) for n in config.parameterizations}
    reached = {n: finished(outcome.metrics, n) for n in config.parameterizations}
    return _claims(config, inits, np.asarray(config.point), paths, steps, reached)


def _claims(config, inits, x, paths, steps, reached) -> list[Claim]:
    claims = []
    paper_dirs = {(1.0, 1.0): " (paper: direction (0.997, 0.08))",
                  (1.0, 3.0): " (paper: direction (0.06, 0.998))"}
    if "ewn" in paths:
        for w0, path, done in zip(inits, paths["ewn"], reached["ewn"], strict=True):
            axis = predicted_axis(w0, x)
            direction = path[-1] / np.linalg.norm(path[-1])
            limits = off_axis_limits(w0, x)
            off = np.delete(np.arange(len(w0)), axis)
            # the closed form needs every w0_i x_i > 0 and a unique winner (finite limits)
            applies = bool(np.all(w0 * x > 0) and np.all(np.isfinite(limits[off])))
            bounded = applies and bool(np.all(path[-1][off] <= LIMIT_SLACK * limits[off]))
            ends = done and int(np.argmax(np.abs(direction))) == axis and bounded
            finals = ", ".join(f"{path[-1][i]:.3f} (flow limit {limits[i]:.3f})" for i in off)
            if not applies:
                finals += " (closed form needs w0_i x_i > 0 with a unique largest)"
            if not done:
                finals += " (the run did not reach the target)"
            label = f"({', '.join(f'{v:g}' for v in w0)})"
            claims.append(Claim(
                f"EWN from {label} ends on the w{axis + 1} axis",
                f"w{axis + 1} axis{paper_dirs.get(tuple(w0), '')}",
                f"direction ({', '.join(f'{v:.3f}' for v in direction)}); off-axis "
                f"coordinate {finals}",
                ends,
                criterion=f"the run reaches log-loss {config.target_log_loss:g}, every w0_i x_i"
                          " > 0 with a unique largest, the final direction's largest |coordinate|"
                          " is that one, and every other final coordinate is at most "
                          f"{LIMIT_SLACK:g}x its EWN-flow limit",
            ))
    if "plain" in paths:
        # the distance of w(t) from the line w0 + s x, relative to ||w(t)||: rounding alone
        # leaves a few machine epsilons of the run's dtype (a cosine of the tiny first moves
        # would not: in float32 it is off by 1e-2)
        xhat = x / np.linalg.norm(x)
        eps = float(np.finfo(np.dtype(config.dtype)).eps)
        worst, forward = 0.0, True
        for path in paths["plain"]:
            moves = np.asarray(path, np.float64) - np.asarray(path[0], np.float64)
            off_line = moves - np.outer(moves @ xhat, xhat)
            worst = max(worst, float(np.max(np.linalg.norm(off_line, axis=1)
                                            / np.linalg.norm(path, axis=1))))
            forward &= bool(moves[-1] @ xhat > 0)
        claims.append(Claim(
            "Unnormalized GD moves in straight lines parallel to x",
            "straight parallel lines in direction x",
            f"max distance of w(t) from the line w0 + s x, relative to ||w(t)||: {worst:.1e} "
            f"({worst / eps:.0f} eps of {config.dtype})"
            + ("" if forward else "; a run ended behind its start along x"),
            bool(worst <= STRAIGHT_EPS * eps and forward and reached["plain"].all()),
            criterion=f"every point of every unnormalized run lies within {STRAIGHT_EPS} machine "
                      f"epsilons of {config.dtype} (relative to ||w(t)||) of the line w0 + s x, "
                      "each run ends ahead of its start along x, and every run reaches log-loss "
                      f"{config.target_log_loss:g}",
        ))
    if "plain" in steps and "ewn" in steps:
        ewn, plain = np.median(steps["ewn"]), np.median(steps["plain"])
        claims.append(Claim(
            f"EWN reaches log-loss {config.target_log_loss:g} in far fewer epochs than "
            "unnormalized GD",
            "epochs: EWN 57, 49, 58, 45, 52 vs unnormalized 2770, 2755, 2763, 2734, 2755 "
            "(to log-loss -50, from the five inits)",
            f"epochs: EWN {', '.join(map(str, steps['ewn']))} vs unnormalized "
            f"{', '.join(map(str, steps['plain']))} (median ratio {plain / ewn:.0f}x)",
            bool(plain >= 10 * ewn and reached["plain"].all() and reached["ewn"].all()),
            criterion="unnormalized GD's median epoch count is at least 10x EWN's, and every run "
                      f"of both reaches log-loss {config.target_log_loss:g}",
        ))
    return claims


def figures(config: Config, outcome: Outcome) -> dict:
    inits = np.asarray(outcome.metrics["inits"])
    paths = {n: _paths(outcome, n) for n in config.parameterizations}
    names = list(paths)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for w0, path in zip(inits, paths[name], strict=True):
            label = f"w0=({', '.join(f'{v:g}' for v in w0)})"
            ax.plot(path[:, 0], path[:, 1], marker=".", ms=2, lw=1.2, label=label)
        ax.set_title(f"{name}: trajectories to log-loss {config.target_log_loss:g}")
        ax.set_xlabel("w1")
        ax.set_ylabel("w2")
        ax.set_xscale("symlog")
        ax.set_yscale("symlog")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return {"trajectories": fig}
