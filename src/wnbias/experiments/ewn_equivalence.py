"""ewn-equivalence: EWN gradient flow is unnormalized flow with per-neuron rate ||w_u||^2.

Morwani & Ramaswamy's equivalence theorem (PAPERS.md §1.4, §7 item 1): from the same w0 with
||v_u(0)|| = 1, gradient flow in EWN's (a, v) and the unnormalized flow dw_u/dt =
-||w_u||^2 grad_u L trace the same w(t), and ||v_u|| stays constant. Likewise SWN's flow is
the unnormalized flow with radial rate 1 and tangential rate ||w_u||^2. A small 2-layer relu^2
net on random data, exponential loss, integrated in t with tight tolerances. Then GD with step
eta on the EWN parameters is compared with the flow at the same time T = eta * steps: the
deviation shrinks like eta (first order).
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from ..dynamics.flow import TimeClock, run_flow
from ..dynamics.gd import run_gd
from ..dynamics.preconditioners import ewn_rate, swn_rate
from ..dynamics.schedules import constant
from ..dynamics.trajectory import Status
from ..errors import ConfigError, SolverFailure
from ..initial import load_initial_parameters
from ..losses import get_loss
from ..models import mlp
from ..objective import make_log_loss
from ..reparam import get_reparam
from .base import Claim, Outcome, Problem
from .common import as_dtype, check_finite, encoder, side_by_side
from .specs.ewn_equivalence import EXPERIMENT, Config  # noqa: F401  (re-exported)


def _model(config: Config):
    return _network(config.dim, config.width)


# Cached, one object per value of their arguments: the compiled flow and GD programs are keyed
# by the objective and the record function, so an identical second run compiles nothing.
@cache
def _network(dim: int, width: int):
    return mlp((dim, width, 1), "relu2")


@cache
def _objective(dim: int, width: int, arm: str):
    return make_log_loss(_network(dim, width), get_reparam(arm), get_loss("exponential"))


@cache
def _recorder(objective):
    """The weights of every layer and the drift of ||v_u|| from 1, of an EWN/SWN objective."""
    def record(theta):
        return {**{f"w/{k}": v for k, v in objective.weights(theta).items()},
                "v_norm_deviation": _v_norm_deviation(theta)}

    return record


def _plain_weights(theta) -> dict:
    return {f"w/{k}": v["w"] for k, v in theta.items()}


def _initial_weights(config: Config, model, key) -> dict:
    if not config.init_from:
        return model.init(key)
    thetas, n_seeds = load_initial_parameters(config.init_from, model.layer_shapes,
                                              {"plain": get_reparam("plain")}, config.dtype)
    if n_seeds != 1:
        raise ConfigError(f"init_from={config.init_from} holds {n_seeds} seeds; "
                          "ewn-equivalence runs one")
    return {layer: t["w"][0] for layer, t in thetas["plain"].items()}


def _problem(config: Config):
    kx, kt, kw = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    x = jax.random.normal(kx, (config.n_points, config.dim))
    y = jnp.sign(x @ jax.random.normal(kt, (config.dim,)))
    model = _model(config)
    w0 = _initial_weights(config, model, kw)
    return model, w0, as_dtype(x, config.dtype), as_dtype(y, config.dtype)


def _max_relative_deviation(a: dict, b: dict) -> float:
    """max over saved times of ||a(t) - b(t)|| / ||b(t)||, all layers stacked."""
    diff = sum(np.sum((a[k] - b[k]) ** 2, axis=(-2, -1)) for k in a)
    size = sum(np.sum(b[k] ** 2, axis=(-2, -1)) for k in b)
    return float(np.max(np.sqrt(diff / size)))


def setup(config: Config) -> Problem:
    """Random data, the relu^2 net, and one start w0 encoded for EWN, SWN and plain."""
    _, w0, x, y = _problem(config)
    arms = {n: get_reparam(n) for n in ("ewn", "swn", "plain")}
    return Problem(
        data=(x, y),
        objectives={n: _objective(config.dim, config.width, n) for n in arms},
        initial={n: jax.tree.map(lambda a: np.asarray(a)[None], encoder(r)(w0))
                 for n, r in arms.items()},
        extra={"w0": w0},
    )


def _v_norm_deviation(theta) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(jnp.linalg.norm(t["v"], axis=-1) - 1))
                              for t in theta.values()]))


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    opts = dict(clock=TimeClock(t_end=config.t_end), n_save=60, progress=progress,
                **config.flow.options())
    start = {n: jax.tree.map(lambda a: np.asarray(a)[0], t) for n, t in problem.initial.items()}
    def flow(name):  # four independent solves, two at a time (common.side_by_side)
        if name in ("ewn", "swn"):
            objective = problem.objectives[name]
            return run_flow(objective, start[name], problem.data, record=_recorder(objective),
                            **opts)
        rate = {"plain+ewn-rate": ewn_rate, "plain+swn-rate": swn_rate}[name]
        return run_flow(problem.objectives["plain"], start["plain"], problem.data,
                        preconditioner=rate, record=_plain_weights, **opts)

    names = ("ewn", "swn", "plain+ewn-rate", "plain+swn-rate")
    flows = dict(zip(names, side_by_side(flow, names), strict=True))
    trajectories = {n: f.trajectory for n, f in flows.items()}
    for name, t in trajectories.items():
        if t.status[0] != Status.TARGET:
            raise SolverFailure(f"ewn-equivalence ({name}): {t.message}", partial=trajectories)

    def path(name):
        t = trajectories[name]
        return {k: t.valid(k) for k in t.series if k.startswith("w/")}

    deviation = {n: _max_relative_deviation(path(n), path(f"plain+{n}-rate"))
                 for n in ("ewn", "swn")}
    gd = _gd_against_flow(config, problem, {k[2:]: v[-1] for k, v in path("ewn").items()})
    metrics = {
        "max_relative_deviation": deviation,
        "max_v_norm_deviation": {n: float(np.max(trajectories[n].valid("v_norm_deviation")))
                                 for n in ("ewn", "swn")},
        "log_loss_at_t_end": {n: float(f.log_loss[0]) for n, f in flows.items()},
        "solver_steps": {n: int(t.counts["solver_steps"][0]) for n, t in trajectories.items()},
        "function_evaluations": {n: int(t.counts["function_evaluations"][0])
                                 for n, t in trajectories.items()},
        "gd_deviation": dict(zip(map(str, config.gd_steps), gd["dev"].tolist(), strict=True)),
        "gd_order": gd["order"],
    }
    return Outcome(metrics, trajectories)


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    m = outcome.metrics
    deviation, v_drift, order = m["max_relative_deviation"], m["max_v_norm_deviation"], m[
        "gd_order"]
    tol = 1e-6
    return [
        Claim("EWN flow = unnormalized flow with per-neuron rate ||w_u||^2",
              "the same path w(t) (equivalence theorem)",
              f"max relative deviation over the path {deviation['ewn']:.1e}",
              deviation["ewn"] < tol,
              criterion=f"the largest ||w_EWN(t) - w_plain(t)|| / ||w_plain(t)|| over the saved "
                        f"times up to T = {config.t_end:g} is below {tol:g} (the solver's "
                        "tolerances: flow.rtol, flow.atol)"),
        Claim("||v_u|| is conserved by the EWN flow", "d||v_u||/dt = 0",
              f"max | ||v_u|| - 1 | = {v_drift['ewn']:.1e}", v_drift["ewn"] < tol,
              criterion="the largest | ||v_u|| - 1 | over neurons and saved times is below "
                        f"{tol:g}"),
        Claim("SWN flow = radial rate 1, tangential rate ||w_u||^2",
              "the same path w(t)", f"max relative deviation {deviation['swn']:.1e}",
              deviation["swn"] < tol,
              criterion=f"the largest ||w_SWN(t) - w_plain(t)|| / ||w_plain(t)|| over the saved "
                        f"times up to T = {config.t_end:g} is below {tol:g} (the solver's "
                        "tolerances: flow.rtol, flow.atol)"),
        Claim("||v_u|| is conserved by the SWN flow", "d||v_u||/dt = 0",
              f"max | ||v_u|| - 1 | = {v_drift['swn']:.1e}", v_drift["swn"] < tol,
              criterion="the largest | ||v_u|| - 1 | over neurons and saved times is below "
                        f"{tol:g}"),
        Claim("GD approaches the EWN flow at first order in the step",
              "deviation O(step)",
              f"fitted order {order:.2f} (deviations "
              + ", ".join(f"{d:.1e}" for d in m["gd_deviation"].values()) + ")",
              0.8 <= order <= 1.2,
              criterion="the slope of log(relative deviation of GD's w(T) from the flow's) "
                        "against log(step) over gd_steps is between 0.8 and 1.2"),
    ]


def figures(config: Config, outcome: Outcome) -> dict:
    m = outcome.metrics
    return {"gd_vs_flow": _figure(config, {"dev": np.asarray(list(m["gd_deviation"].values())),
                                           "order": m["gd_order"]})}


def _gd_against_flow(config, problem: Problem, target: dict) -> dict:
    """GD with step eta for T/eta steps against the flow's w(T), for each eta."""
    objective = problem.objectives["ewn"]
    devs = []
    for eta in config.gd_steps:
        steps = int(round(config.t_end / eta))
        result = run_gd(objective, problem.initial["ewn"], problem.data, constant(eta),
                        max_steps=steps, n_log=2, batched=True)
        check_finite(result, "ewn-equivalence (GD)", {})
        w = objective.weights(jax.tree.map(lambda a: a[0], result.theta))
        devs.append(_max_relative_deviation(
            {k: np.asarray(v)[None] for k, v in w.items()},
            {k: np.asarray(v)[None] for k, v in target.items()},
        ))
    devs = np.asarray(devs)
    order = float(np.polyfit(np.log(config.gd_steps), np.log(devs), 1)[0])
    return {"dev": devs, "order": order}


def _figure(config, gd):
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    steps = np.asarray(config.gd_steps)
    ax.loglog(steps, gd["dev"], "o-", label="GD vs flow at T")
    ax.loglog(steps, gd["dev"][0] * steps / steps[0], "k--", lw=1, label="slope 1")
    ax.set_xticks(steps, [f"{v:g}" for v in steps])  # the steps run, without crowded minors
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("GD step size")
    ax.set_ylabel("||w_GD(T) - w_flow(T)|| / ||w_flow(T)||")
    ax.set_title(f"EWN: GD -> flow, fitted order {gd['order']:.2f}")
    ax.legend()
    fig.tight_layout()
    return fig
