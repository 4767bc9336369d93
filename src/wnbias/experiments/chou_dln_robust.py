"""chou-dln-robust: polar weight normalization keeps the sparse bias of a diagonal linear network at
large initialization (Chou, Rauhut, Ward, arXiv 2305.05448; PAPERS.md §2, §2.6).

y = A x* with A (M x N) Gaussian, x* s-sparse; x = u^L - v^L from u(0) = v(0) = alpha 1; square
loss (1/2)||A x - y||^2. Plain GD finds the minimum-l1 interpolant only as alpha -> 0 (at large
alpha it ends near the min-l2 one); polar WN, (u_i, v_i) = r_i (cos phi_i, sin phi_i) with radial
rate eta_r and angular rate eta_theta = eta_r / rho, keeps the bias at alpha of order 1 when rho is
large. The paper's text is not available: the model is the library's reconstruction (PAPERS.md
§2.6, reading (b), per coordinate pair; the per-factor-vector reading u = r theta, v = s phi runs
as a negative control at L = 2), and so are the instance (M = 20, N = 50, s = 3) and the grids.

Integrator: GD with backtracking (lr grows by 1.2 per accepted step, halves on a rise) whose
every step is capped so that no coordinate moves by more than ``max_relative_step`` of itself: a
fixed step that ignores the relative rate of change destroys the bias at small alpha (§2.6).
Each seed is an instance (A, x*); all (alpha, rho) of a depth run as one batch under ``vmap``.
"""

from __future__ import annotations

import warnings
from functools import cache

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from ..dynamics.gd import run_gd
from ..dynamics.schedules import backtracking, constant, constant_by_label, relative_rate_cap
from ..losses import get_loss
from ..measure.sparse_recovery import (
    depth_l_limit,
    l1_gap,
    make_instance,
    min_l1_interpolant,
    min_l2_interpolant,
    polar_pair_invariant,
    recovery_error,
    support_recovery,
)
from ..models.diagonal import alpha_init, diagonal_linear, diagonal_vector
from ..objective import make_log_loss
from ..reparam import decode, get_reparam
from .base import Claim, Outcome, Problem
from .common import check_finite, encoder
from .specs.chou_dln_robust import EXPERIMENT, INTEGRATORS, Config  # noqa: F401  (re-exported)

ARMS = ("plain", "polar", "vector")  # plain GD; polar WN per pair; WN per factor vector (L = 2)
LABELS = {"polar": {"pairs": {"r": "radial", "phi": "angular"}},
          "vector": {"u": {"g": "radial", "v": "angular"}, "v": {"g": "radial", "v": "angular"}}}


def _runs(config: Config, arm: str, depth: int) -> list[tuple[float, float]]:
    """The (alpha, rho) batch of one arm and depth (rho = 0 for plain GD)."""
    if arm == "plain":
        return [(a, 0.0) for a in config.alphas]
    if arm == "vector":
        return [(a, max(config.rhos)) for a in config.alphas]
    grid = [(a, r) for a in config.alphas for r in config.rhos]
    if depth == 2:  # the kappa collapse: rho = alpha^6 / kappa^2
        grid += [(a, a**6 / k**2) for k in config.kappas for a in config.kappa_alphas]
    return grid


def _arms(depth: int) -> tuple[str, ...]:
    return ARMS if depth == 2 else ARMS[:2]


# Cached, one object per value of their arguments: the compiled GD and flow programs are keyed
# by the objective, the step rule's functions and the record function, so every instance, the
# sparsity sweep and an identical second run reuse them.
@cache
def _objective(n: int, arm: str, depth: int):
    model = diagonal_linear(n, depth, "vector" if arm == "vector" else "pair")
    return make_log_loss(model, get_reparam("swn" if arm == "vector" else arm),
                         get_loss("square"))


@cache
def _labels(arm: str):
    """``params -> the radial/angular label of every leaf`` of ``arm``."""
    labels = LABELS[arm]
    return lambda params: labels


def _instances(config: Config, s: int) -> list[tuple]:
    return [make_instance(config.m, config.n, s, config.seed + i, config.noise)
            for i in range(config.n_seeds)]


def _starts(config: Config, arm: str, runs) -> dict:
    reparam = get_reparam("swn" if arm == "vector" else arm)
    layout = "vector" if arm == "vector" else "pair"
    weights = [alpha_init(config.n, a, layout) for a, _ in runs]
    return encoder(reparam, batched=True)(jax.tree.map(lambda *x: np.stack(x), *weights))


def _sweep_runs(config: Config, arm: str) -> list[tuple[float, float]]:
    """The one run per arm of the sparsity sweep: the largest alpha, the largest rho."""
    return [(max(config.alphas), 0.0 if arm == "plain" else max(config.rhos))]


def setup(config: Config) -> Problem:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        instances = _instances(config, config.s)
        sweep = {s: _instances(config, s) for s in config.sparsities}
    objectives, initial = {}, {}
    for depth in config.depths:
        for arm in _arms(depth):
            key = f"{arm}/L{depth}"
            objectives[key] = _objective(config.n, arm, depth)
            initial[key] = _starts(config, arm, _runs(config, arm, depth))
    for arm in ("plain", "polar"):
        initial[f"sparsity/{arm}"] = _starts(config, arm, _sweep_runs(config, arm))
    messages = list(dict.fromkeys(str(w.message) for w in caught))  # once per message
    return Problem(data=None, objectives=objectives, initial=initial,
                   extra={"instances": instances, "sweep": sweep, "warnings": messages})


def _rule(config: Config, arm: str, n_runs: int, rhos) -> tuple:
    """The capped backtracking rule and its batch of states (one ratio per run)."""
    grow = dict(lr_limit=1e30, grow=1.2, shrink=2.0)
    if arm == "plain":
        return relative_rate_cap(backtracking(constant(1.0), **grow),
                                 config.max_relative_step), None
    inner = constant_by_label(1.0, _labels(arm), {"radial": 1.0, "angular": 1.0})
    rule = relative_rate_cap(backtracking(inner, **grow), config.max_relative_step)
    state = jax.tree.map(lambda v: jnp.full(n_runs, v), rule.init(None))  # one per run
    state["inner"]["ratio"]["angular"] = jnp.asarray([1.0 / r for r in rhos])
    return rule, state


def _instance_metrics(instances) -> list[dict]:
    out = []
    for a, y, x_star in instances:
        l1 = min_l1_interpolant(a, y)
        out.append({"min_l1": float(np.abs(l1).sum()), "x_star_l1": float(np.abs(x_star).sum()),
                    "min_l1_error": recovery_error(l1, x_star),
                    "min_l2_error": recovery_error(min_l2_interpolant(a, y), x_star),
                    "x_star_norm": float(np.linalg.norm(x_star))})
    return out


def _solve(config: Config, problem: Problem, arm: str, depth: int, runs, initial, instances,
           references: list[dict], label: str, trajectories: dict, progress: bool) -> list[dict]:
    """Every run of one arm and depth from ``initial`` (a batch), on each instance: one row per
    run with its measures over the instances. Each instance reuses one compiled program."""
    key = f"{arm}/L{depth}"
    rule, state = _rule(config, arm, len(runs), [r for _, r in runs])
    reparam = get_reparam("swn" if arm == "vector" else arm)
    rows = [{"alpha": al, "rho": rho} for al, rho in runs]
    record = _recorder(arm, depth)  # one object: every instance reuses the program
    for i, (a, y, x_star) in enumerate(instances):
        data = (jnp.asarray(a), jnp.asarray(y))
        target = float(np.log(config.target_ratio * float(y @ y / 2)))
        name = f"{label}/seed{i}"
        if config.integrator == "gd":
            result = run_gd(problem.objectives[key], initial, data, rule, rule_state=state,
                            max_steps=config.max_steps, batched=True, target_log_loss=target,
                            record=record, n_log=100, progress=progress, label=name)
            trajectories[name] = result.trajectory
            check_finite(result, f"chou-dln-robust ({name})", trajectories)
        else:
            # a solve that ran out of steps keeps its status (solver_failure) and is judged
            # where it stopped, as a GD run at its budget is
            result = _flow(config, problem.objectives[key], arm, initial, data, target, runs,
                           record)
            trajectories[name] = result.trajectory
        t = result.trajectory
        steps = t.counts["steps" if config.integrator == "gd" else "solver_steps"]
        weights = jax.vmap(lambda th, r=reparam: decode(th, r))(result.theta)
        xs = np.asarray(jax.vmap(lambda w, d=depth: diagonal_vector(w, d))(weights))
        ref = references[i]
        for j, row in enumerate(rows):
            row.setdefault("error", []).append(recovery_error(xs[j], x_star))
            row.setdefault("l1_gap", []).append(l1_gap(xs[j], a, y, ref["min_l1"]))
            row.setdefault("support", []).append(support_recovery(xs[j], x_star))
            row.setdefault("steps", []).append(int(steps[j]))
            row.setdefault("status", []).append(t.status_names()[j])
            row.setdefault("invariant_drift", []).append(_drift(arm, depth, t, j, row["rho"]))
            if arm == "plain":
                limit = depth_l_limit(a, y, row["alpha"], depth)
                row.setdefault("gap_to_flow_limit", []).append(
                    float(np.linalg.norm(xs[j] - limit) / ref["x_star_norm"]))
    return rows


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    trajectories = {}
    metrics = {"instances": _instance_metrics(problem.extra["instances"])}
    for depth in config.depths:
        for arm in _arms(depth):
            key = f"{arm}/L{depth}"
            metrics[key] = _solve(config, problem, arm, depth, _runs(config, arm, depth),
                                  problem.initial[key], problem.extra["instances"],
                                  metrics["instances"], key, trajectories, progress)
    sweep = []
    for s, instances in problem.extra["sweep"].items():
        level = {"s": s, "instances": _instance_metrics(instances)}
        for arm in ("plain", "polar"):
            level[arm] = _solve(config, problem, arm, config.depths[0],
                                _sweep_runs(config, arm), problem.initial[f"sparsity/{arm}"],
                                instances, level["instances"], f"sparsity/s{s}/{arm}",
                                trajectories, progress)[0]
        sweep.append(level)
    metrics["sparsity"] = sweep
    finished = ", ".join(
        f"{key} {sum(x == 'target' for r in rows for x in r['status'])}/"
        f"{sum(len(r['status']) for r in rows)}"
        for key, rows in metrics.items() if "/" in key)
    steps = "steps" if config.integrator == "gd" else "solver steps"
    return Outcome(metrics, trajectories, notes=[
        f"Runs that reached the target loss (the others are judged where their budget of "
        f"{config.max_steps} {steps} left them): {finished}.",
        "The model is the library's reconstruction (the paper's text is not available): "
        "polar WN per coordinate pair (the README's Reconstructions and choices); the "
        "per-vector reading is the negative control. "
        f"Instance M = {config.m}, N = {config.n}, s = {config.s} "
        f"(sweep s = {', '.join(map(str, config.sparsities)) or 'none'}) and the grids are the "
        "library's.",
        (f"Integrator: GD with backtracking, every step capped at a relative change of "
         f"{config.max_relative_step:g} per coordinate; stop at loss <= "
         f"{config.target_ratio:g} loss(0) or {config.max_steps} steps."
         if config.integrator == "gd" else
         f"Integrator: gradient flow by diffrax ({config.flow.solver}, rtol "
         f"{config.flow.rtol:g}); 'steps' are solver steps; stop at loss <= "
         f"{config.target_ratio:g} loss(0)."),
        *problem.extra["warnings"]])


def _flow(config: Config, objective, arm: str, initial, data, target: float, runs, record):
    """The gradient flow of every run of one arm from the same starts, rates (1, 1/rho)."""
    from ..dynamics.flow import LogLossClock, run_flow  # diffrax (0.5 s): for integrator=flow

    rates = None
    if arm != "plain":
        angular = jnp.asarray([1.0 / rho for _, rho in runs])
        radial = jnp.ones_like(angular)
        rates = jax.tree.map(lambda tag: radial if tag == "radial" else angular, LABELS[arm])
    return run_flow(objective, initial, data,
                    LogLossClock(target_log_loss=target), batched=True, rates=rates,
                    record=record, n_save=100, max_steps=config.max_steps,
                    **config.flow.options())


def _record_polar(theta) -> dict:
    return {"r": theta["pairs"]["r"], "phi": theta["pairs"]["phi"]}


def _record_plain(theta) -> dict:
    return {"uv": theta["pairs"]["w"][:, 0] * theta["pairs"]["w"][:, 1],
            "scale": jnp.sum(theta["pairs"]["w"] ** 2, axis=1) / 2}


def _recorder(arm: str, depth: int):
    if arm == "polar" and depth == 2:
        return _record_polar
    if arm == "plain" and depth == 2:
        return _record_plain
    return None


def _drift(arm: str, depth: int, t, j: int, rho: float) -> float | None:
    """The largest change of the L = 2 invariant along run j, over the coordinates, relative to
    the size of its terms: u_i v_i against (u_i^2 + v_i^2)/2 (plain flow), and
    r_i^2 + rho log|sin 2 phi_i| against r_i^2 + rho |log|sin 2 phi_i|| (polar flow)."""
    if depth != 2 or arm == "vector":
        return None
    if arm == "plain":
        inv, scale = t.valid("uv", j), t.valid("scale", j)
    else:
        r, phi = t.valid("r", j), t.valid("phi", j)
        inv = polar_pair_invariant(r, phi, rho)
        scale = r**2 + rho * np.abs(np.log(np.abs(np.sin(2 * phi))))
    return float(np.max(np.abs(inv - inv[0]) / np.max(scale, axis=0)))


def _median(row: dict, key: str) -> float:
    return float(np.median(row[key]))


def _grid_rows(rows: list[dict], config: Config) -> list[dict]:
    """The (alpha, rho) grid of the polar runs, without the collapse runs after it."""
    return rows[: len(config.alphas) * len(config.rhos)]


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    m = outcome.metrics
    norm = float(np.median([i["x_star_norm"] for i in m["instances"]]))
    l2 = float(np.median([i["min_l2_error"] for i in m["instances"]]))
    rho_max, large = max(config.rhos), [a for a in config.alphas if a >= 1]
    unit = "GD steps" if config.integrator == "gd" else "solver steps"
    out = []
    for depth in config.depths:
        plain = m[f"plain/L{depth}"]
        polar = _grid_rows(m[f"polar/L{depth}"], config)
        errors = [_median(r, "error") for r in plain]
        out.append(Claim(
            f"L = {depth}: plain GD's error grows with alpha to the min-l2-like regime",
            "GD recovers x* only from tiny initialization",
            "median ||x - x*|| at alpha = " + ", ".join(
                f"{r['alpha']:g}: {e:.3g}" for r, e in zip(plain, errors, strict=True))
            + f" (min-l2 interpolant: {l2:.3g})",
            errors[-1] > 10 * errors[0] and errors[-1] >= 0.5 * l2,
        criterion="the error at the largest alpha is over 10x that at the smallest and at least "
                  "half the min-l2 interpolant's"))
        best = {a: _median(next(r for r in polar if r["alpha"] == a and r["rho"] == rho_max),
                           "error") for a in large}
        plain_large = {r["alpha"]: _median(r, "error") for r in plain if r["alpha"] >= 1}
        out.append(Claim(
            f"L = {depth}: polar WN's error stays small at alpha >= 1 when rho is large",
            "WN keeps the sparse bias at practical initialization scales",
            f"rho = {rho_max:g}: " + ", ".join(
                f"alpha = {a:g}: {e:.3g} (plain {plain_large[a]:.3g})" for a, e in best.items())
            + f"; ||x*|| = {norm:.3g}",
            bool(best) and all(e <= 0.1 * norm and e <= 0.1 * plain_large[a]
                               for a, e in best.items()),
        criterion="at every alpha >= 1 polar WN's median error at the largest rho is at most 10% "
                  "of ||x*|| and of plain GD's (a larger rho helps: kappa = alpha^3/sqrt(rho) sets"
                  " the error)"))
        at_one = [_median(next(r for r in polar if r["alpha"] == 1.0 and r["rho"] == rho),
                          "error") for rho in config.rhos] if 1.0 in config.alphas else []
        out.append(Claim(
            f"L = {depth}: a larger rho strengthens the bias",
            "the learning-rate ratio magnifies the implicit regularization",
            "alpha = 1, median error at rho = " + ", ".join(
                f"{rho:g}: {e:.3g}" for rho, e in zip(config.rhos, at_one, strict=True)),
            bool(at_one) and all(b < a for a, b in zip(at_one, at_one[1:], strict=False)),
        criterion="the median error at alpha = 1 falls strictly as rho grows"))
        good = min(errors)
        plain_steps = _median(plain[int(np.argmin(errors))], "steps")
        matched = [r for r in polar if _median(r, "error") <= good
                   and all(s == "target" for s in r["status"])]
        polar_steps = min((_median(r, "steps") for r in matched), default=np.inf)
        out.append(Claim(
            f"L = {depth}: polar WN converges in fewer iterations",
            "WN-GD converges faster than GD (at the same or lower error)"
            + ("" if config.integrator == "gd" else "; here counted in adaptive solver steps"),
            f"to an error of {good:.3g} (plain GD's best, at alpha = "
            f"{plain[int(np.argmin(errors))]['alpha']:g}): plain {plain_steps:.0f} {unit}"
            + ("" if all(x == "target" for x in plain[int(np.argmin(errors))]["status"])
               else " (not all at the target loss)") + ", polar "
            + (f"{polar_steps:.0f} (its fastest run at that error)" if matched else
               "no finished run at that error"),
            polar_steps < plain_steps,
        criterion="polar WN's fastest run that reached the target at an error no larger than plain"
                  " GD's best takes fewer steps; the step rule is the library's capped "
                  "backtracking (max_relative_step), the paper's is unknown"))
        gaps = [g for r in plain for g in r["gap_to_flow_limit"]]
        out.append(Claim(
            f"L = {depth}: plain GD ends at the plain flow's closed-form limit",
            "Woodworth et al. 2020: argmin of the hyperbolic entropy Q_alpha on A x = y (L = 2; "
            "the dual solve at L > 2)",
            f"max ||x_GD - x_limit|| / ||x*|| = {max(gaps):.2g} over every alpha and seed",
            max(gaps) <= 0.05,
        criterion="the largest gap is at most 5% of ||x*||"))
    if 2 in config.depths:
        out += _depth2_claims(config, m, norm)
    if m["sparsity"]:
        out.append(_sparsity_claim(config, m))
    return out


def _sparsity_levels(config: Config, m: dict) -> list[dict]:
    """Every sparsity level at (largest alpha, largest rho, first depth): the main instance's
    runs and the sweep's, sorted by s."""
    depth, alpha, rho = config.depths[0], max(config.alphas), max(config.rhos)
    main = {"s": config.s, "instances": m["instances"],
            "plain": next(r for r in m[f"plain/L{depth}"] if r["alpha"] == alpha),
            "polar": next(r for r in m[f"polar/L{depth}"]
                          if r["alpha"] == alpha and r["rho"] == rho)}
    return sorted([main, *m["sparsity"]], key=lambda level: level["s"])


def _relative_l1_gap(level: dict, arm: str) -> float:
    return float(np.median([g / i["min_l1"] for g, i in
                            zip(level[arm]["l1_gap"], level["instances"], strict=True)]))


def _sparsity_claim(config: Config, m: dict) -> Claim:
    levels = _sparsity_levels(config, m)
    return Claim(
        f"L = {config.depths[0]}, alpha = {max(config.alphas):g}: polar WN keeps the sparse "
        "bias at every sparsity level",
        "the robustness to the initialization scale is not special to one sparsity",
        f"rho = {max(config.rhos):g}, median (||x||_1 - min l1) / min l1 and error: " + "; ".join(
            f"s = {lv['s']}: polar {_relative_l1_gap(lv, 'polar'):.2g} (error "
            f"{_median(lv['polar'], 'error'):.3g}), plain {_relative_l1_gap(lv, 'plain'):.2g} "
            f"(error {_median(lv['plain'], 'error'):.3g}), min-l1 interpolant's error "
            f"{np.median([i['min_l1_error'] for i in lv['instances']]):.3g}" for lv in levels)
        + f"; M = {config.m}, N = {config.n}",
        all(_relative_l1_gap(lv, "polar") <= 0.1 * _relative_l1_gap(lv, "plain")
            for lv in levels),
        criterion="polar WN's relative l1 gap is at most 10% of plain GD's at every level")


def _depth2_claims(config: Config, m: dict, norm: float) -> list[Claim]:
    out = []
    collapse = m["polar/L2"][len(_grid_rows(m["polar/L2"], config)):]
    spreads, means = [], []
    for k in config.kappas:
        errs = [_median(r, "error") for r in collapse
                if np.isclose(r["alpha"] ** 3 / np.sqrt(r["rho"]), k)]
        spreads.append(max(errs) / min(errs))
        means.append(float(np.exp(np.mean(np.log(errs)))))
    out.append(Claim(
        "L = 2: errors of (alpha, rho) with one kappa = alpha^3/sqrt(rho) collapse",
        "the error depends on (alpha, rho) only through kappa (derived for the per-pair flow "
        "and simulated by the library)",
        "kappa = " + ", ".join(f"{k:g}: error {e:.3g} (max/min over alpha "
                               f"{list(config.kappa_alphas)} = {s:.2f})"
                               for k, e, s in zip(config.kappas, means, spreads, strict=True)),
        max(spreads) <= 2.0 and all(b > a for a, b in zip(means, means[1:], strict=False)),
        criterion="for every kappa the errors' max/min over alpha is at most 2, and the error "
                  "grows with kappa"))
    vector, plain = m["vector/L2"], m["plain/L2"]
    threshold = np.sqrt(float(np.median([i["x_star_l1"] for i in m["instances"]])) / config.n)
    above = [(v, p) for v, p in zip(vector, plain, strict=True) if v["alpha"] > threshold]
    out.append(Claim(
        "L = 2, per-vector WN (negative control): the bias is lost once N alpha^2 > ||x*||_1",
        "the per-vector reading cannot show the claim: ||x||_1 <= r^2 + s^2 (derived)",
        f"alpha > {threshold:.2g}: " + ", ".join(
            f"alpha = {v['alpha']:g}: {_median(v, 'error'):.3g} (plain {_median(p, 'error'):.3g})"
            for v, p in above),
        bool(above) and all(_median(v, "error") >= 0.5 * _median(p, "error") for v, p in above),
        criterion="at every alpha above sqrt(||x*||_1/N) the per-vector error is at least half "
                  "plain GD's"))
    drifts = {arm: max(d for r in m[f"{arm}/L2"] for d in r["invariant_drift"])
              for arm in ("plain", "polar")}
    out.append(Claim(
        "L = 2: the flows' invariants hold along " + (
            "GD up to the step" if config.integrator == "gd" else "the flow"),
        "u_i v_i (plain flow) and r_i^2 + rho log|sin 2 phi_i| (polar flow) are conserved",
        f"max drift relative to the size of the terms over every run: u v "
        f"{drifts['plain']:.2g}, polar "
        f"{drifts['polar']:.2g}" + (f" (GD steps capped at {config.max_relative_step:g})"
                                    if config.integrator == "gd" else
                                    f" (flow rtol {config.flow.rtol:g})"),
        max(drifts.values()) <= 0.1,
        criterion="the largest relative drift is at most 0.1 (lower max_relative_step, or "
                  "integrator=flow)"))
    return out


def figures(config: Config, outcome: Outcome) -> dict:
    m = outcome.metrics
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    styles = {2: "-", 3: "--", 4: ":"}
    for depth in config.depths:
        plain = m[f"plain/L{depth}"]
        polar = _grid_rows(m[f"polar/L{depth}"], config)
        ls = styles.get(depth, "-.")
        for key, ax in (("error", axes[0]), ("l1_gap", axes[1])):
            ax.loglog(config.alphas, [max(_median(r, key), 1e-8) for r in plain], "k" + ls,
                      marker="o", label=f"plain GD, L = {depth}")
            for i, rho in enumerate(config.rhos):
                rows = [r for r in polar if r["rho"] == rho]
                ax.loglog(config.alphas, [max(_median(r, key), 1e-8) for r in rows], ls,
                          marker="x", color=f"C{i}", label=f"polar WN rho = {rho:g}, L = {depth}")
            if depth == 2:
                ax.loglog(config.alphas, [max(_median(r, key), 1e-8) for r in m["vector/L2"]],
                          ":", marker="s", color="gray", label="per-vector WN, L = 2")
    axes[0].set_ylabel("||x - x*|| (median over instances)")
    axes[1].set_ylabel("||x||_1 - min ||z||_1 (median)")
    for ax in axes[:2]:
        ax.set_xlabel("alpha")
    axes[0].legend(fontsize=6)
    if 2 in config.depths:
        alpha = 1.0 if 1.0 in config.alphas else config.alphas[-1]
        for arm, rho, color in [("plain", 0.0, "k")] + [
                ("polar", r, f"C{i}") for i, r in enumerate(config.rhos)]:
            j = next(i for i, r in enumerate(m[f"{arm}/L2"])
                     if r["alpha"] == alpha and r["rho"] == rho)
            t = outcome.trajectories[f"{arm}/L2/seed0"]
            clock = "step" if "step" in t.series else "t"  # GD steps, or the flow's time
            axes[2].semilogy(t.valid(clock, j), np.exp(t.valid("log_loss", j)), color=color,
                             label="plain GD" if arm == "plain" else f"polar rho = {rho:g}")
        axes[2].set_xscale("symlog", linthresh=10)
        axes[2].set_xlabel("GD iteration" if config.integrator == "gd" else "flow time t")
        axes[2].set_ylabel("loss")
        axes[2].set_title(f"L = 2, alpha = {alpha:g}, instance 0")
        axes[2].legend(fontsize=7)
        for r in m["polar/L2"]:
            kappa = r["alpha"] ** 3 / np.sqrt(r["rho"])
            axes[3].loglog(kappa, _median(r, "error"), "o", ms=4,
                           color="C3" if r["alpha"] in config.kappa_alphas
                           and any(np.isclose(kappa, k) for k in config.kappas) else "C0")
        axes[3].set_xlabel("kappa = alpha^3 / sqrt(rho)")
        axes[3].set_ylabel("||x - x*|| (median)")
        axes[3].set_title("polar WN, L = 2 (red: the collapse runs)")
    fig.tight_layout()
    out = {"error_against_alpha": fig}
    if m["sparsity"]:
        out["error_against_sparsity"] = _sparsity_figure(config, m)
    return out


def _sparsity_figure(config: Config, m: dict):
    levels = _sparsity_levels(config, m)
    sparsity = [lv["s"] for lv in levels]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for arm, style, name in (("plain", "ko-", "plain GD"),
                             ("polar", "C2x-", f"polar WN rho = {max(config.rhos):g}")):
        axes[0].semilogy(sparsity, [_median(lv[arm], "error") for lv in levels], style,
                         label=name)
        axes[1].semilogy(sparsity, [_relative_l1_gap(lv, arm) for lv in levels], style,
                         label=name)
    floor = 1e-6  # the LP's own error is at rounding level; shown at the floor
    axes[0].semilogy(sparsity, [max(np.median([i["min_l1_error"] for i in lv["instances"]]),
                                    floor) for lv in levels], "s--", color="gray",
                     label=f"min-l1 interpolant (LP; floored at {floor:g})")
    axes[0].set_ylabel("||x - x*|| (median over instances)")
    axes[1].set_ylabel("(||x||_1 - min ||z||_1) / min ||z||_1 (median)")
    for ax in axes:
        ax.set_xlabel("sparsity s of x*")
        ax.set_xticks(sparsity)
        ax.legend(fontsize=8)
    fig.suptitle(f"L = {config.depths[0]}, alpha = {max(config.alphas):g}, "
                 f"M = {config.m}, N = {config.n}")
    fig.tight_layout()
    return fig
