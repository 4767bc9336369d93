"""min-width-bias: the distance to the min-norm solution falls like h^-1/2 (Min et al., E4.3).

Min, Tarmoun, Vidal, Mallada (arXiv 2105.06351, App. A.3, Theorem 12; PAPERS.md §4.4). f(x) =
V U^T x, X (n x D) with X_ij ~ N(0, 1/D), Y = X Theta + noise, m = 1, U, V ~ N(0, 1/h); GD on
(1/n)||Y - X U V^T||^2 with step eta until that loss is below 1e-8. The end-to-end map ends at
X^+ Y + Phi_2 U_2(0) V(inf)^T, so its distance to the min-norm map is about ||U_2(0) V(0)^T||,
which is O(h^-1/2) at this init. Several seeds per width run together under ``vmap``. The
default is a smaller instance (D = 100, n = 20, h = 200-800) so that the default reproduce stays
short; ``--preset full`` runs the paper's D = 500, n = 100, h = 500-10 000 (hours on 2 cores).
"""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
import numpy as np

from ..dynamics.flow import LogLossClock
from ..dynamics.gd import run_gd
from ..dynamics.schedules import constant
from ..losses import get_loss
from ..measure.linear_networks import min_norm_map, orthogonal_init, row_space, split_u
from ..measure.rates import power_law
from ..models import deep_linear
from ..objective import make_log_loss
from ..reparam import get_reparam
from .base import Claim, Outcome, Problem
from .common import (
    as_dtype,
    check_finite,
    flow_beside_gd,
    mean_square_step,
    require_full_row_rank,
)
from .specs.min_width_bias import EXPERIMENT, Config  # noqa: F401  (re-exported)


def _data(config: Config):
    rng = np.random.RandomState(config.seed)
    x = rng.randn(config.n, config.d) / np.sqrt(config.d)
    require_full_row_rank(x, "X", config.seed)
    theta = rng.randn(config.d, 1) / np.sqrt(config.d)
    return x, x @ theta + config.noise * rng.randn(config.n, 1)


@cache  # one objective per shape: the compiled GD and flow programs are keyed by it
def _objective(d: int, h: int):
    return make_log_loss(deep_linear((d, h, 1)), get_reparam("plain"), get_loss("square"))


def setup(config: Config) -> Problem:
    x, y = _data(config)
    objectives, initial, starts = {}, {}, {}
    for h in config.widths:
        rng = np.random.RandomState(config.seed + h)
        u = rng.randn(config.n_seeds, config.d, h) / np.sqrt(h)
        v = rng.randn(config.n_seeds, 1, h) / np.sqrt(h)
        key = f"h{h}"
        objectives[key] = _objective(config.d, h)
        initial[key] = {"layer1": {"w": as_dtype(np.transpose(u, (0, 2, 1)), config.dtype)},
                        "layer2": {"w": as_dtype(v, config.dtype)}}
        starts[key] = (u, v)
    return Problem(data=(as_dtype(x, config.dtype), as_dtype(y[:, 0], config.dtype)),
                   objectives=objectives, initial=initial,
                   extra={"x": x, "y": y, "starts": starts})


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    x, y = problem.extra["x"], problem.extra["y"]
    target, rs = min_norm_map(x, y), row_space(x)
    lr = mean_square_step(config.eta, config.n)
    stop = float(np.log(config.n * config.stop_loss / 2))  # (1/n)||r||^2 < s <=> L < n s / 2
    trajectories, metrics = {}, {}
    for h in config.widths:
        key = f"h{h}"
        result = run_gd(problem.objectives[key], problem.initial[key], problem.data,
                        constant(lr), max_steps=config.max_steps, target_log_loss=stop,
                        batched=True, n_log=100, progress=progress, label=key)
        trajectories[key] = t = result.trajectory
        check_finite(result, f"min-width-bias (h={h})", trajectories)
        flow = flow_beside_gd(problem.objectives[key], problem.initial[key], problem.data,
                              LogLossClock(target_log_loss=stop), label=f"flow/{key}",
                              partial=trajectories, rtol=1e-9, atol=1e-12, n_save=50)
        u0, v0 = problem.extra["starts"][key]
        metrics[key] = {
            "width": h, "status": t.status_names(),
            "steps": [int(s) for s in t.counts["steps"]],
            "distance": _distances(result.theta, target),
            "flow_distance": _distances(flow.theta, target),
            "flow_time": [float(x) for x in flow.trajectory.counts["time"]],
            "gd_time": [lr * int(s) for s in t.counts["steps"]],
            "u2_v_norm": [float(np.linalg.norm(split_u(u0[s], rs)[1] @ v0[s].T))
                          for s in range(config.n_seeds)],
        }
    metrics["orthogonal"] = _orthogonal_start(config, problem, lr, stop, target, trajectories)
    hs = np.concatenate([[m["width"]] * config.n_seeds for k, m in metrics.items()
                         if k != "orthogonal"])
    dist = np.concatenate([m["distance"] for k, m in metrics.items() if k != "orthogonal"])
    metrics["target_norm"] = float(np.linalg.norm(target))
    fit = power_law(hs, dist)
    metrics["exponent"] = {"p": fit["p"], "interval": fit["interval"]}
    return Outcome(metrics, trajectories)


def _orthogonal_start(config: Config, problem: Problem, lr: float, stop: float,
                      target: np.ndarray, trajectories: dict) -> dict:
    """GD from a start in the invariant set V U_2^T = 0 = U_1 U_2^T (smallest width), which
    Theorem 12 says ends exactly at X^+ Y."""
    h = min(config.widths)
    u, v = orthogonal_init(problem.extra["x"], 1, h, 1 / np.sqrt(h),
                           np.random.RandomState(config.seed + 1))
    theta = {"layer1": {"w": as_dtype(u.T[None], config.dtype)},
             "layer2": {"w": as_dtype(v[None], config.dtype)}}
    result = run_gd(problem.objectives[f"h{h}"], theta, problem.data, constant(lr),
                    max_steps=config.max_steps, target_log_loss=stop, batched=True, n_log=100)
    trajectories["orthogonal"] = result.trajectory
    check_finite(result, f"min-width-bias (orthogonal start, h={h})", trajectories)
    u_end, v_end = (np.asarray(result.theta[k]["w"][0]) for k in ("layer1", "layer2"))
    end = u_end.T @ v_end.T
    scale = float(np.linalg.norm(target))
    return {"width": h, "status": result.trajectory.status_names()[0],
            "relative_distance": _distances(result.theta, target)[0] / scale,
            # the part of U V^T in ker X: what the start decides (the rest is the residual)
            "relative_null_space_part": float(np.linalg.norm(
                row_space(problem.extra["x"]).phi_2.T @ end)) / scale}


def _distances(theta, target: np.ndarray) -> list[float]:
    """||U V^T - X^+ Y|| per seed, from weights with a leading seed axis."""
    u = np.transpose(theta["layer1"]["w"], (0, 2, 1))
    v = theta["layer2"]["w"]
    return [float(np.linalg.norm(u[s] @ v[s].T - target)) for s in range(len(u))]


def _widths(config: Config, outcome: Outcome) -> list[dict]:
    return [outcome.metrics[f"h{h}"] for h in config.widths]


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    rows = _widths(config, outcome)
    done = all(s == "target" for r in rows for s in r["status"])
    ratio = [np.median(np.abs(np.asarray(r["distance"]) / np.asarray(r["u2_v_norm"]) - 1))
             for r in rows]
    exponent, orth = outcome.metrics["exponent"], outcome.metrics["orthogonal"]
    lo, hi = exponent["interval"]
    steps = [float(np.median(r["steps"])) for r in rows]
    flow_gap = max(float(np.max(np.abs(np.asarray(r["distance"]) / np.asarray(r["flow_distance"])
                                       - 1))) for r in rows)
    time_gap = max(float(np.max(np.abs(np.asarray(r["gd_time"]) / np.asarray(r["flow_time"])
                                       - 1))) for r in rows)
    return [
        Claim(f"Every run reaches (1/n)||Y - XUV^T||^2 < {config.stop_loss:g}",
              "GD stops at a loss below 1e-8", "all runs reached it" if done else
              "runs that did not: " + ", ".join(f"h={r['width']}: {r['status']}" for r in rows),
              done,
              criterion=f"every seed at every width stops below {config.stop_loss:g} within "
                        f"max_steps = {config.max_steps}"),
        Claim("The distance to X^+ Y equals ||U_2(0) V(0)^T||",
              "the two curves nearly coincide (0.8 at h = 500 to 0.2 at h = 10 000)",
              "median |distance / ||U_2(0)V(0)^T|| - 1| per width: "
              + ", ".join(f"h={r['width']} {q:.3f}" for r, q in zip(rows, ratio, strict=True)),
              done and max(ratio) <= 0.1,
              criterion="every run reaches the stop and, at every width, the median over seeds "
                        "of |distance / ||U_2(0)V(0)^T|| - 1| is at most 0.1"),
        Claim("The distance falls like h^-1/2",
              "linear in 1/sqrt(h) (Theorem 12 with alpha = 1/2)",
              f"fitted exponent {exponent['p']:.3f} [{lo:.3f}, {hi:.3f}] (95%, "
              f"{config.n_seeds} seeds per width)", done and lo <= -0.5 <= hi,
              criterion="every run reaches the stop and the 95% interval of the exponent fitted "
                        "to distance against h (every seed and width) contains -0.5 (more "
                        "n_seeds or widths narrow it)"),
        Claim("Iterations to the stop hardly depend on width",
              "about 5.7-6.7e4 iterations, flat in h (at D = 500, n = 100)",
              "median iterations: " + ", ".join(f"h={r['width']} {s:.0f}"
                                                for r, s in zip(rows, steps, strict=True)),
              max(steps) <= 1.5 * min(steps),
              criterion="the largest median iteration count over widths is at most 1.5x the "
                        "smallest"),
        Claim("From the orthogonal start GD reaches X^+ Y",
              "V U_2^T = 0 = U_1 U_2^T at the start gives exactly the min-norm solution",
              f"h = {orth['width']}: the part of UV^T in ker X is "
              f"{orth['relative_null_space_part']:.1e} of ||X^+Y|| (||UV^T - X^+Y|| / ||X^+Y|| = "
              f"{orth['relative_distance']:.1e}, the rest set by the stop; a random start: "
              f"{min(min(r['distance']) for r in rows) / outcome.metrics['target_norm']:.1e})",
              orth["status"] == "target" and orth["relative_null_space_part"] <= 1e-6,
              criterion="the orthogonal-start run reaches the stop and the part of UV^T in ker X"
                        " is at most 1e-6 of ||X^+Y||"),
        Claim("GD ends where the gradient flow ends",
              "GD with a small step is the paper's proxy for the flow of Theorem 12",
              f"max |distance_GD / distance_flow - 1| = {flow_gap:.1e} over every seed and width;"
              f" time to the stop, GD (2 eta k / n) against the flow: at most {time_gap:.1e} "
              "relative apart", done and flow_gap <= 0.01,
              criterion="every GD run reaches the stop and |distance_GD / distance_flow - 1| is "
                        "at most 0.01 for every seed and width (the time gap is only reported)"),
    ]


def figures(config: Config, outcome: Outcome) -> dict:
    rows = _widths(config, outcome)
    hs = np.asarray([r["width"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, marker in (("distance", "||UV^T - X^+Y|| at the stop", "o"),
                               ("u2_v_norm", "||U_2(0) V(0)^T||", "x")):
        values = np.asarray([r[key] for r in rows])
        axes[0].errorbar(hs, values.mean(1), yerr=values.std(1), fmt=marker + "-", label=label,
                         capsize=3)
    first = np.mean(rows[0]["distance"])
    flow = np.asarray([r["flow_distance"] for r in rows])
    axes[0].plot(hs, flow.mean(1), "k+", ms=8, label="gradient flow (mean)")
    axes[0].loglog(hs, first * np.sqrt(hs[0] / hs), "k--", lw=0.8, label="h^-1/2")
    axes[0].set_xlabel("width h")
    axes[0].set_title(f"fitted exponent {outcome.metrics['exponent']['p']:.2f}")
    axes[0].legend(fontsize=7)
    axes[1].plot(hs, [np.median(r["steps"]) for r in rows], "o-")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("width h")
    axes[1].set_ylabel("GD iterations to the stop (median)")
    axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    return {"distance_against_width": fig}
