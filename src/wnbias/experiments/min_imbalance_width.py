"""min-imbalance-width: the imbalance spectrum and the rate bounds against width (Min et al., E4.1).

Min, Tarmoun, Vidal, Mallada (arXiv 2105.06351, §5.1 / App. A.1; PAPERS.md §4.4). Matrix
factorization L = ||Y - U V^T / sqrt(m h)||_F^2 / 2 with Y (n x m), Y_ij ~ N(0, 0.1), U (n x h),
V (m x h), U_ij, V_ij ~ N(0, 1): regression with X = I / sqrt(m h), so lambda(Sigma_x) = 1/(m h)
and the imbalance D = U^T U - V^T V enters scaled by 1/(m h). GD with step 0.05 (flow time
t = 0.05 k). The paper's text says m = 5 and its appendix m = 10: ``m`` is configurable, default 5
(the main text). Predictions (its Figs 4-5): small h has Delta_+- >> Delta and a rate that starts
near 1 and decays (the bound loose early); h = 1000 has Delta dominating, a nearly constant rate
about 0.75-0.8 and a tight bound; the loss never crosses Theorem 3's bound, the rate never
Proposition 1's.
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from ..dynamics.flow import TimeClock
from ..dynamics.gd import run_gd
from ..dynamics.schedules import constant
from ..losses import get_loss
from ..measure.linear_networks import imbalance, row_space, theorem3_rate
from ..models import matrix_factorization
from ..objective import make_log_loss
from ..reparam import get_reparam
from .base import Claim, Outcome, Problem
from .common import as_dtype, check_finite, flow_beside_gd, log_loss_gap
from .specs.min_imbalance_width import EXPERIMENT, Config  # noqa: F401  (re-exported)

BOUND_SLACK = 1.01  # GD at step 0.05 against the flow's bounds
FLOW_SLACK = 1e-6  # the flow itself, up to the solver's tolerance
# The bounds are compared while L - L* is above this fraction of its start: float64 resolves the
# residual to ~1e-16 of |Y|, so L stops at ~1e-32 L(0) while the bound keeps falling.
RESOLVED = 1e-20
# The flow's solver (atol 1e-12 on O(1) weights) leaves L at ~1e-20 L(0): its record is compared
# while L - L* is above this fraction of its start, and the solve stops there.
FLOW_RESOLVED = 1e-14


def _start(config: Config, h: int):
    return _draw(config.seed, config.n, config.m, h)


def _draw(seed: int, n: int, m: int, h: int):
    """(Y, U, V) of width h."""
    rng = np.random.RandomState(seed + h)
    y = np.sqrt(0.1) * np.random.RandomState(seed).randn(n, m)
    return y, rng.randn(n, h), rng.randn(m, h)


# Cached, one object per value of their arguments: the compiled GD and flow programs are keyed
# by the objective and the record function, so an identical second run compiles nothing.
@cache
def _objective(n: int, h: int, m: int):
    return make_log_loss(matrix_factorization(n, h, m), get_reparam("plain"), get_loss("square"))


@cache
def _training(seed: int, n: int, m: int, h: int, dtype: str):
    """(data, record function) of width h: the data (I_n, Y) in ``dtype`` and the recorder
    of :func:`_recorder` on them, with Theorem 3's levels of the start."""
    y, u, v = _draw(seed, n, m, h)
    x = np.eye(n) / np.sqrt(m * h)
    data = (jnp.eye(n, dtype=dtype), as_dtype(y, dtype))
    return data, _recorder(_objective(n, h, m), data, m, theorem3_rate(x, y, u, v), 1.0 / (m * h))


def setup(config: Config) -> Problem:
    objectives, initial, extra = {}, {}, {}
    for h in config.widths:
        y, u, v = _start(config, h)
        x = np.eye(config.n) / np.sqrt(config.m * h)  # the regression view, for the measures
        key = f"h{h}"
        objectives[key] = _objective(config.n, h, config.m)
        initial[key] = {"layer1": {"w": as_dtype(u.T[None], config.dtype)},
                        "layer2": {"w": as_dtype(v[None], config.dtype)}}
        extra[key] = {"x": x, "y": y, "u": u, "v": v}
    return Problem(data=None, objectives=objectives, initial=initial, extra=extra)


def _recorder(objective, data, m: int, levels: dict, lambda_r: float):
    """||grad L||^2 (the flow's -dL/dt) and Proposition 1's bound, at each logged step."""
    value_and_grad = jax.value_and_grad(lambda th: objective.loss(th, *data))
    dp, dm, d = levels["delta_plus"], levels["delta_minus"], levels["delta"]

    def record(theta):
        _, grad = value_and_grad(theta)
        product = theta["layer1"]["w"].T @ theta["layer2"]["w"].T  # U V^T, n x m
        s = jnp.linalg.svd(product, compute_uv=False)
        sigma_m = s[m - 1]
        sigma_r = s[-1] if product.shape[0] <= product.shape[1] else 0.0  # rank <= m < r
        bound = lambda_r * (-dp + jnp.sqrt((dp + d) ** 2 + 4 * sigma_m**2)
                            - dm + jnp.sqrt((dm + d) ** 2 + 4 * sigma_r**2))
        return {"grad_sq": sum(jnp.sum(g**2) for g in jax.tree.leaves(grad)),
                "proposition1": bound}

    return record


def _against_bounds(time, log_loss, grad_sq, proposition1, bound: dict,
                    resolved_fraction: float = RESOLVED) -> dict:
    """The worst ratios to Theorem 3's and Proposition 1's bounds along one record, while float64
    resolves L - L*, and the rate at its start and end."""
    excess = np.exp(log_loss) - bound["l_star"]
    resolved = excess > resolved_fraction * excess[0]
    rate = grad_sq / excess
    return {
        "max_loss_over_theorem3": float(np.max((excess / (
            np.exp(-bound["rate"] * time) * excess[0]))[resolved])),
        "min_rate_over_proposition1": float(np.min((rate / proposition1)[resolved])),
        "rate_initial": float(rate[0]), "rate_final": float(rate[resolved][-1]),
        "resolved_until": float(time[resolved][-1]),
    }


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    trajectories, metrics = {}, {}
    horizon = config.eta * config.steps
    for h in config.widths:
        key = f"h{h}"
        e = problem.extra[key]
        x, y, u, v = e["x"], e["y"], e["u"], e["v"]
        bound = theorem3_rate(x, y, u, v)
        data, record = _training(config.seed, config.n, config.m, h, config.dtype)
        result = run_gd(problem.objectives[key], problem.initial[key], data, constant(config.eta),
                        max_steps=config.steps, batched=True, n_log=200, progress=progress,
                        record=record, label=key)
        trajectories[key] = t = result.trajectory
        check_finite(result, f"min-imbalance-width (h={h})", trajectories)
        # the flow stops where float64 stops resolving L - L* (past it only solver error is left)
        loss0 = float(np.exp(t.valid("log_loss")[0]))
        floor = float(np.log(bound["l_star"] + FLOW_RESOLVED * (loss0 - bound["l_star"])))
        flow = flow_beside_gd(problem.objectives[key], problem.initial[key], data,
                              TimeClock(t_end=horizon, target_log_loss=floor),
                              label=f"flow/{key}",
                              partial=trajectories, record=record, rtol=1e-9, atol=1e-12)
        ft = flow.trajectory
        gd_time = config.eta * t.valid("step")
        gd_bounds = _against_bounds(gd_time, t.valid("log_loss"), t.valid("grad_sq"),
                                    t.valid("proposition1"), bound)
        flow_bounds = _against_bounds(ft.valid("t"), ft.valid("log_loss"), ft.valid("grad_sq"),
                                      ft.valid("proposition1"), bound, FLOW_RESOLVED)
        until = min(gd_bounds["resolved_until"], flow_bounds["resolved_until"])
        eig = np.sort(np.linalg.eigvalsh(imbalance(u, v, row_space(x))))[::-1] / (config.m * h)
        metrics[key] = {
            "width": h, **{k: bound[k] / (config.m * h) for k in
                           ("delta_plus", "delta_minus", "delta")},
            "c": bound["c"], "theorem3_rate": bound["rate"],
            "imbalance_eigenvalues_scaled": eig[np.abs(eig) > 1e-12].round(5).tolist(),
            **gd_bounds, "final_loss": float(np.exp(t.valid("log_loss")[-1])),
            "flow": {**flow_bounds, "solver_steps": int(ft.counts["solver_steps"][0])},
            "gd_flow_log_loss_gap": log_loss_gap(gd_time[gd_time <= until],
                                                 t.valid("log_loss")[gd_time <= until],
                                                 ft.valid("t"), ft.valid("log_loss")),
            "log_loss_drop": float(t.valid("log_loss")[0]
                                   - np.interp(until, gd_time, t.valid("log_loss"))),
        }
    return Outcome(metrics, trajectories, notes=[
        f"m = {config.m} (the paper's main text; its appendix says 10). The rate is the flow's "
        "-dL/dt / (L - L*) = ||grad L||^2 / (L - L*), along GD (t = eta k) and along the "
        "gradient flow (diffrax, Tsit5, rtol 1e-9, atol 1e-12) from the same start; the bounds "
        f"are compared while L - L* > {RESOLVED:g} (L(0) - L*) for GD, which float64 resolves, "
        f"and {FLOW_RESOLVED:g} (L(0) - L*) for the flow, which its tolerance resolves."])


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    m = outcome.metrics
    keys = [f"h{h}" for h in config.widths]
    small, large = m[keys[0]], m[keys[-1]]
    runs = [m[k] for k in keys] + [m[k]["flow"] for k in keys]
    worst_loss = max(r["max_loss_over_theorem3"] for r in runs)
    worst_rate = min(r["min_rate_over_proposition1"] for r in runs)
    flow_loss = max(m[k]["flow"]["max_loss_over_theorem3"] for k in keys)
    flow_rate = min(m[k]["flow"]["min_rate_over_proposition1"] for k in keys)
    gap = max(m[k]["gd_flow_log_loss_gap"] / m[k]["log_loss_drop"] for k in keys)
    return [
        Claim("The loss never crosses Theorem 3's bound", "L(t) - L* <= e^{-lambda_r c(0) t}"
              "(L(0) - L*)", f"max (L - L*) / bound over widths {list(config.widths)}: "
              f"{worst_loss:.3f} over GD and the flow ({flow_loss:.3f} on the flow)",
              worst_loss <= BOUND_SLACK and flow_loss <= 1 + FLOW_SLACK,
              criterion=f"(L - L*) / bound is at most {BOUND_SLACK:g} everywhere on GD and the "
                        f"flow at every width, and at most 1 + {FLOW_SLACK:g} on the flow "
                        f"(compared while L - L* > {RESOLVED:g} of its start for GD, "
                        f"{FLOW_RESOLVED:g} for the flow)"),
        Claim("The rate never falls below Proposition 1's bound",
              "-dL/dt / (L - L*) >= lambda_r [...] at every t",
              f"min rate / bound = {worst_rate:.3f} over GD and the flow ({flow_rate:.3f} on "
              "the flow)", worst_rate >= 1 / BOUND_SLACK and flow_rate >= 1 - FLOW_SLACK,
              criterion=f"rate / bound is at least 1/{BOUND_SLACK:g} everywhere on GD and the "
                        f"flow at every width, and at least 1 - {FLOW_SLACK:g} on the flow "
                        f"(compared while L - L* > {RESOLVED:g} of its start for GD, "
                        f"{FLOW_RESOLVED:g} for the flow)"),
        Claim(f"GD at step {config.eta:g} follows the gradient flow",
              "GD is the paper's proxy for the flow the theorems are about",
              f"max |log L_GD(t) - log L_flow(t)| / the log-loss drop = {gap:.1e} (worst width)",
              gap <= 0.05,
              criterion="at every width, max |log L_GD(t) - log L_flow(t)| (while both resolve "
                        "L - L*) is at most 5% of GD's log-loss drop over that time (a smaller "
                        "eta follows the flow more closely)"),
        Claim(f"Small width (h = {small['width']}): Delta_+- dominate Delta",
              "h = 30: Delta_+- >> Delta; the rate starts near 1 and decays to about 0.2",
              f"Delta_+ + Delta_- = {small['delta_plus'] + small['delta_minus']:.3g}, Delta = "
              f"{small['delta']:.3g} (scaled by 1/(mh)); rate {small['rate_initial']:.2f} -> "
              f"{small['rate_final']:.2f}",
              small["delta_plus"] + small["delta_minus"] > small["delta"]
              and small["rate_final"] < 0.5 * small["rate_initial"],
              criterion="at the smallest width, Delta_+ + Delta_- exceeds Delta and GD's final "
                        "rate (at the last resolved step) is below half its initial rate"),
        Claim(f"Large width (h = {large['width']}): Delta dominates, the rate is nearly constant",
              "h = 1000: Delta dominates; the rate is flat about 0.75-0.8 and the bound tight",
              f"Delta = {large['delta']:.3g} vs Delta_+ + Delta_- = "
              f"{large['delta_plus'] + large['delta_minus']:.3g}; rate "
              f"{large['rate_initial']:.2f} -> {large['rate_final']:.2f}; Theorem 3's rate "
              f"{large['theorem3_rate']:.2f}",
              large["delta"] > large["delta_plus"] + large["delta_minus"]
              and abs(large["rate_final"] / large["rate_initial"] - 1) < 0.2,
              criterion="at the largest width, Delta exceeds Delta_+ + Delta_- and GD's final "
                        "rate (at the last resolved step) is within 20% of its initial rate"),
    ]


def figures(config: Config, outcome: Outcome) -> dict:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for h in config.widths:
        key = f"h{h}"
        m, t = outcome.metrics[key], outcome.trajectories[key]
        eig = np.asarray(m["imbalance_eigenvalues_scaled"])
        axes[0].plot(np.full(len(eig), h), eig, "_", ms=12)
        loss = np.exp(t.valid("log_loss"))
        keep = loss > RESOLVED * loss[0]  # past it the float64 floor, not the dynamics
        time = config.eta * t.valid("step")[keep]
        loss = loss[keep]
        line = axes[1].semilogy(time, loss, label=f"h = {h}")[0]
        ft = outcome.trajectories[f"flow/{key}"]
        flow_loss = np.exp(ft.valid("log_loss"))
        on = flow_loss > FLOW_RESOLVED * flow_loss[0]
        axes[1].semilogy(ft.valid("t")[on], flow_loss[on], ":", color="k", lw=1)
        axes[2].plot(ft.valid("t")[on], ft.valid("grad_sq")[on] / flow_loss[on], ":", color="k",
                     lw=1)
        axes[1].semilogy(time, np.exp(-m["theorem3_rate"] * time) * loss[0], "--",
                         color=line.get_color(), lw=0.8)
        axes[2].plot(time, t.valid("grad_sq")[keep] / loss, color=line.get_color(),
                     label=f"h = {h}")
        axes[2].plot(time, t.valid("proposition1")[keep], "--", color=line.get_color(), lw=0.8)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("width h")
    axes[0].set_ylabel("eigenvalues of D / (m h)")
    axes[0].set_title("imbalance spectrum")
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("L")
    axes[1].set_ylim(bottom=RESOLVED * 1e-3)
    axes[1].set_title("loss (to float64's floor); dashed: Theorem 3, dotted: flow")
    axes[1].legend(fontsize=7)
    axes[2].set_xlabel("t")
    axes[2].set_ylabel("-dL/dt / L")
    axes[2].set_title("instantaneous rate; dashed: Proposition 1, dotted: flow")
    fig.tight_layout()
    return {"imbalance_and_rates": fig}
