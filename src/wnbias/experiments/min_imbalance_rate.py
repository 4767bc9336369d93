"""min-imbalance-rate: the imbalance sets the speed at a fixed end-to-end map (Min et al., E4.2).

Min, Tarmoun, Vidal, Mallada, "Convergence and Implicit Bias of Gradient Flow on
Overparametrized Linear Networks" (arXiv 2105.06351, §5.2 / App. A.2; PAPERS.md §4.4). A linear
network f(x) = V U^T x on X (n x D) with unit singular values, Y = X Theta + noise, m = 1. Three
starts U = sigma_U U0, V = sigma_V V0 with the same product sigma_U sigma_V = 0.01 (so the same
end-to-end map) and a balanced start with that map (imbalance D = 0); GD on (1/n)||Y - X U V^T||^2
with step eta, i.e. the flow of ||.||^2/2 at time t = 2 eta k / n. Theorem 3:
L - L* <= exp(-lambda_r(Sigma_x) c(0) t)(L(0) - L*), with c(0) from the imbalance (paper:
6.51, 40.6, 21.9 for the three cases at D = h = 500, n = 100) and the speed order case 2 > case 3
> case 1 > balanced. The default is a smaller instance (D = h = 200, n = 40) so that the default
reproduce stays short; ``--preset full`` runs the paper's sizes.
"""

from __future__ import annotations

from functools import cache

import matplotlib.pyplot as plt
import numpy as np

from ..dynamics.flow import TimeClock
from ..dynamics.gd import run_gd
from ..dynamics.schedules import constant
from ..losses import get_loss
from ..measure.linear_networks import balanced_init, theorem3_rate
from ..models import deep_linear
from ..objective import make_log_loss
from ..reparam import get_reparam
from .base import Claim, Outcome, Problem
from .common import (
    as_dtype,
    check_finite,
    flow_beside_gd,
    log_loss_gap,
    mean_square_step,
    require_full_row_rank,
)
from .specs.min_imbalance_rate import EXPERIMENT, Config  # noqa: F401  (re-exported)

CASES = ("case 1", "case 2", "case 3", "balanced")
PAPER_C = {"case 1": 6.51, "case 2": 40.6, "case 3": 21.9}
PAPER_SIZES = {"d": 500, "n": 100, "width": 500}
BOUND_SLACK = 1.01  # GD at a small step against the flow's bound


def _instance(config: Config):
    rng = np.random.RandomState(config.seed)
    w, _, phi_t = np.linalg.svd(rng.randn(config.n, config.d), full_matrices=False)
    x = w @ phi_t  # unit singular values: Sigma_x = I
    require_full_row_rank(x, "X", config.seed)
    theta = rng.randn(config.d, 1) / np.sqrt(config.d)
    y = x @ theta + config.noise * rng.randn(config.n, 1)
    u0, v0 = rng.randn(config.d, config.width), rng.randn(1, config.width)
    q, _ = np.linalg.qr(rng.randn(config.width, 1))
    return x, y, u0, v0, q


@cache  # one objective per shape: the compiled GD and flow programs are keyed by it
def _objective(d: int, width: int):
    return make_log_loss(deep_linear((d, width, 1)), get_reparam("plain"), get_loss("square"))


def setup(config: Config) -> Problem:
    x, y, u0, v0, q = _instance(config)
    pairs = np.asarray(config.scales).reshape(3, 2)
    starts = [(su * u0, sv * v0) for su, sv in pairs]
    starts.append(balanced_init(starts[0][0] @ starts[0][1].T, x, q))
    weights = {"layer1": {"w": as_dtype(np.stack([u.T for u, _ in starts]), config.dtype)},
               "layer2": {"w": as_dtype(np.stack([v for _, v in starts]), config.dtype)}}
    return Problem(
        data=(as_dtype(x, config.dtype), as_dtype(y[:, 0], config.dtype)),
        objectives={"gd": _objective(config.d, config.width)},
        initial={"gd": weights}, extra={"x": x, "y": y, "starts": starts},
    )


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    x, y = problem.extra["x"], problem.extra["y"]
    lr = mean_square_step(config.eta, config.n)
    result = run_gd(problem.objectives["gd"], problem.initial["gd"], problem.data, constant(lr),
                    max_steps=config.steps, batched=True, n_log=300, progress=progress,
                    label="gd")
    trajectories = {"gd": result.trajectory}
    check_finite(result, "min-imbalance-rate", trajectories)
    t = result.trajectory
    flow = flow_beside_gd(problem.objectives["gd"], problem.initial["gd"], problem.data,
                          TimeClock(t_end=lr * config.steps), label="flow",
                          partial=trajectories, rtol=1e-9, atol=1e-12)
    ft = flow.trajectory
    metrics = {"lr_on_half_squared_loss": lr, "cases": {}}
    for i, (case, (u, v)) in enumerate(zip(CASES, problem.extra["starts"], strict=True)):
        bound = theorem3_rate(x, y, u, v)
        time = lr * t.valid("step", i)
        excess = np.exp(t.valid("log_loss", i)) - bound["l_star"]
        envelope = np.exp(-bound["rate"] * time) * excess[0]
        flow_excess = np.exp(ft.valid("log_loss", i)) - bound["l_star"]
        flow_envelope = np.exp(-bound["rate"] * ft.valid("t", i)) * flow_excess[0]
        metrics["cases"][case] = {
            **bound, "initial_loss": float(np.exp(t.valid("log_loss", i)[0])),
            "final_loss": float(np.exp(t.valid("log_loss", i)[-1])),
            "flow_final_loss": float(np.exp(ft.valid("log_loss", i)[-1])),
            "max_excess_over_bound": float(np.max(excess / envelope)),
            "flow_max_excess_over_bound": float(np.max(flow_excess / flow_envelope)),
            "gd_flow_log_loss_gap": log_loss_gap(time, t.valid("log_loss", i), ft.valid("t", i),
                                                 ft.valid("log_loss", i)),
            "log_loss_drop": float(t.valid("log_loss", i)[0] - t.valid("log_loss", i)[-1]),
            "end_to_end_norm": float(np.linalg.norm(u @ v.T)),
        }
    return Outcome(metrics, trajectories, notes=[
        f"GD on (1/n)||Y - X U V^T||^2 with step {config.eta:g} is GD on ||.||^2/2 with step "
        f"{lr:.3g}: flow time t = 2 eta k / n. The gradient flow (diffrax, Tsit5, rtol 1e-9) "
        "runs from the same four starts to the same t."])


def _paper_sizes(config: Config) -> bool:
    return all(getattr(config, k) == v for k, v in PAPER_SIZES.items())


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    cases = outcome.metrics["cases"]
    out = []
    worst = max(c["max_excess_over_bound"] for c in cases.values())
    flow_worst = max(c["flow_max_excess_over_bound"] for c in cases.values())
    out.append(Claim(
        "Theorem 3's bound holds along every run",
        "L(t) - L* <= exp(-lambda_r c(0) t) (L(0) - L*)",
        f"max (L - L*) / bound over the runs: GD {worst:.3f}, flow {flow_worst:.3f}",
        worst <= BOUND_SLACK and flow_worst <= 1 + 1e-6,
        criterion=f"(L - L*) / bound is at most {BOUND_SLACK:g} at every logged GD step and at "
                  "most 1 + 1e-6 along the flow, for all four starts",
    ))
    gap = max(c["gd_flow_log_loss_gap"] / c["log_loss_drop"] for c in cases.values())
    flow_order = sorted(CASES, key=lambda k: cases[k]["flow_final_loss"])
    out.append(Claim(
        "GD follows the gradient flow, in the same speed order",
        "GD with a small step is the paper's proxy for the flow of Theorem 3",
        f"max |log L_GD(t) - log L_flow(t)| / the log-loss drop = {gap:.1e}; flow order "
        + " < ".join(flow_order),
        gap <= 0.05 and flow_order == ["case 2", "case 3", "case 1", "balanced"],
        criterion="for every start, max |log L_GD(t) - log L_flow(t)| is at most 5% of GD's "
                  "log-loss drop (a smaller eta tracks the flow more closely), and the flow's "
                  "final losses rank case 2 < case 3 < case 1 < balanced",
    ))
    cs = {k: cases[k]["c"] for k in PAPER_C}
    if _paper_sizes(config):
        # the reported values are in the convention of the rate exp(-2 lambda_r c t) (the
        # ICML version's Theorem 1), half of Theorem 3's c in exp(-lambda_r c t)
        half = {k: cs[k] / 2 for k in PAPER_C}
        errors = {k: abs(half[k] / PAPER_C[k] - 1) for k in PAPER_C}
        out.append(Claim(
            "c(0) of the three cases", "6.51, 40.6, 21.9 (in the convention exp(-2 lambda_r c t))",
            "c(0)/2 = " + ", ".join(f"{half[k]:.3g}" for k in PAPER_C) + " (largest relative "
            f"error {max(errors.values()):.1%}; Theorem 3's c = "
            + ", ".join(f"{cs[k]:.3g}" for k in PAPER_C) + ")",
            max(errors.values()) <= 0.10,
            criterion="every case's c(0)/2 is within 10% (relative) of the paper's value",
        ))
    else:
        out.append(Claim(
            "c(0) orders the cases: case 2 > case 3 > case 1",
            "6.51, 40.6, 21.9 at D = h = 500, n = 100 (this run is smaller: --preset full)",
            ", ".join(f"{k} {cs[k]:.3g}" for k in PAPER_C),
            cs["case 2"] > cs["case 3"] > cs["case 1"],
            criterion="Theorem 3's c(0) is strictly largest for case 2, then case 3, then case 1 "
                      "(the paper's values are checked only at its sizes: --preset full)",
        ))
    final = {k: cases[k]["final_loss"] for k in CASES}
    order = sorted(CASES, key=lambda k: final[k])
    out.append(Claim(
        f"More imbalance, faster: after {config.steps} steps case 2 < case 3 < case 1 < balanced",
        "speed order case 2 > case 3 > case 1 > balanced (the same end-to-end map at start)",
        "final losses " + ", ".join(f"{k} {final[k]:.2e}" for k in CASES)
        + f"; order {' < '.join(order)}",
        order == ["case 2", "case 3", "case 1", "balanced"],
        criterion=f"GD's final losses after {config.steps} steps rank exactly case 2 < case 3 < "
                  "case 1 < balanced",
    ))
    out.append(Claim(
        "The balanced start has no imbalance", "D = 0, no bound from the imbalance",
        f"Delta = {cases['balanced']['delta']:.1e}, c(0) = {cases['balanced']['c']:.1e}",
        cases["balanced"]["delta"] < 1e-8,
        criterion="the balanced start's Delta is below 1e-8",
    ))
    return out


def figures(config: Config, outcome: Outcome) -> dict:
    t = outcome.trajectories["gd"]
    lr = outcome.metrics["lr_on_half_squared_loss"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, case in enumerate(CASES):
        m = outcome.metrics["cases"][case]
        time = lr * t.valid("step", i)
        excess = np.exp(t.valid("log_loss", i)) - m["l_star"]
        line = ax.semilogy(time, excess, label=f"{case} (c(0) = {m['c']:.3g})")[0]
        ft = outcome.trajectories["flow"]
        ax.semilogy(ft.valid("t", i), np.exp(ft.valid("log_loss", i)) - m["l_star"], ":",
                    color="k", lw=1)
        if m["c"] > 1e-8:  # the balanced start has no bound
            ax.semilogy(time, np.exp(-m["rate"] * time) * excess[0], "--",
                        color=line.get_color(), lw=0.8)
    ax.set_xlabel("flow time t = 2 eta k / n")
    ax.set_ylabel("L - L*")
    ax.set_title("GD from one end-to-end map; dashed: Theorem 3, dotted: flow")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return {"loss_and_bounds": fig}
