"""ewn-conv-rate: EWN's loss rate does not depend on depth (Morwani & Ramaswamy, E1.4).

Linear nets of depth 1-4 (width 100, no bias) on the authors' 20 separable points (seed 6782),
every depth started at the same end-to-end vector w_init (the last layer solved by a
pseudo-inverse), trained unnormalized, with SWN and with EWN. As in the authors' script, the
solved last layer keeps its direction under SWN/EWN: v_L = the solution itself, not unit-norm
(``last_layer_direction=solved``; a direction with ||v|| != 1 turns 1/||v||^2 times faster), and
g_L = ||w_L|| or a_L = log ||w_L||:

- by GD as the authors ran it (logistic loss summed, constant lr 0.001, 5 000 epochs, whose
  "final" loss is the pre-step loss of epoch 5 000, i.e. after 4 999 steps): EWN's loss curves
  nearly coincide across depth, the unnormalized ones spread widely (deeper is faster);
- by gradient flow to log-loss -300 (the log-loss clock reaches t ~ e^300): the fitted exponent
  p of L(t) ~ 1/(t (log t)^p), with q = 1 fixed, is 2 for EWN at every depth and 2 - 2/L
  unnormalized (Lyu & Li). The corrections are log-log, so the exponent, not the constant, is
  what is tested.

Data that are not linearly separable (``flip_labels`` > 0 can make them so) are reported as
such: the loss cannot go to 0, and no rate claim is made.
"""

from __future__ import annotations

from functools import cache

import jax
import matplotlib.pyplot as plt
import numpy as np

from ..data.synthetic import conv_rate_points
from ..dynamics.schedules import constant
from ..errors import ConfigError
from ..initial import load_initial_parameters, torch_linear_weights
from ..losses import get_loss
from ..measure.rates import fit_loss_rate, log_exponent_product
from ..measure.separability import linearly_separable
from ..models import deep_linear
from ..objective import make_log_loss
from ..reparam import get_reparam
from .base import Claim, Outcome, Problem
from .common import as_dtype, encoder, side_by_side, train
from .specs.ewn_conv_rate import DIRECTIONS, EXPERIMENT, Config  # noqa: F401  (re-exported)


def _model(config: Config, depth: int):
    return _network(config.width, depth)


@cache  # one model per shape, one objective per arm: the compiled programs are keyed by them
def _network(width: int, depth: int):
    return deep_linear((2, *([width] * (depth - 1)), 1))


@cache
def _objective(width: int, depth: int, arm: str):
    return make_log_loss(_network(width, depth), get_reparam(arm), get_loss("logistic"))


def _arms(config: Config) -> dict:
    names = dict.fromkeys((*config.parameterizations, *config.flow_parameterizations))
    return {n: get_reparam(n) for n in names}


def _encode(weights: dict, reparam, depth: int, keep_last_direction: bool) -> dict:
    """Encode with unit directions, except (``keep_last_direction``) the last layer's v, which
    stays the solved weights themselves, as the authors' conv_rate.py leaves it."""
    theta = encoder(reparam)(weights)
    last = f"layer{depth}"
    if keep_last_direction and "v" in theta[last]:
        theta[last] = {**theta[last], "v": weights[last]}
    return theta


def _initial_thetas(config: Config, depth: int, key) -> dict:
    """{arm: theta} of one depth: from init_from, else the same end-to-end init per arm."""
    model = _model(config, depth)
    if config.init_from:
        path = config.init_from.replace("{depth}", str(depth))
        thetas, n_seeds = load_initial_parameters(path, model.layer_shapes, _arms(config),
                                                  config.dtype)
        if n_seeds != 1:
            raise ConfigError(f"init_from={path} holds {n_seeds} seeds; ewn-conv-rate runs one")
        return {arm: jax.tree.map(lambda a: a[0], t) for arm, t in thetas.items()}
    _, _, w_init = _data(config)
    w0 = {k: as_dtype(v, config.dtype) for k, v in same_end_to_end_init(
        key, depth, config.width, w_init, torch_seed=config.seed if config.init == "torch"
        else None).items()}
    keep = config.last_layer_direction == "solved"
    return {arm: _encode(w0, r, depth, keep) for arm, r in _arms(config).items()}


def same_end_to_end_init(key, depth: int, width: int, w_init: np.ndarray,
                         torch_seed: int | None = None) -> dict:
    """Layers 1..L-1 at PyTorch's default init (``jax.random`` draws from ``key``, or torch's
    own under ``torch_seed``), the last solved so that the product is w_init."""
    model = deep_linear((2, *([width] * (depth - 1)), 1))
    if torch_seed is None:
        weights = {k: np.asarray(v) for k, v in model.init(key).items()}
    else:
        weights = {k: v.astype(np.float64)
                   for k, v in torch_linear_weights(model.layer_shapes, torch_seed).items()}
    product = np.eye(2)
    for layer in range(1, depth):
        product = weights[f"layer{layer}"] @ product
    weights[f"layer{depth}"] = (w_init @ np.linalg.pinv(product))[None, :]
    return weights


def _data(config: Config):
    x, y, _, _, w_init = conv_rate_points(config.seed)
    if config.flip_labels:
        rng = np.random.RandomState(config.seed + 1)
        candidates = np.setdiff1d(np.arange(len(y)), [0, len(y) // 2])  # keep the supports
        flip = rng.choice(candidates, min(config.flip_labels, len(candidates)), replace=False)
        y = y.copy()
        y[flip] *= -1
    return x, y, w_init


def setup(config: Config) -> Problem:
    """The authors' 20 points and, per depth, every arm's start at the same end-to-end vector;
    runs are named ``ARM/depthD``."""
    x_np, y_np, _ = _data(config)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), max(config.depths))
    objectives, initial = {}, {}
    for depth in config.depths:
        for arm, theta in _initial_thetas(config, depth, keys[depth - 1]).items():
            objectives[f"{arm}/depth{depth}"] = _objective(config.width, depth, arm)
            initial[f"{arm}/depth{depth}"] = jax.tree.map(lambda a: np.asarray(a)[None], theta)
    return Problem(data=(as_dtype(x_np, config.dtype), as_dtype(y_np, config.dtype)),
                   objectives=objectives, initial=initial,
                   extra={"separable": linearly_separable(x_np, y_np)})


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    separable = problem.extra["separable"]
    partial = {}  # every trajectory so far, kept by a run that stops

    def one_depth(depth) -> tuple[list[str], dict, dict]:
        """(its runs' names, final GD losses, flow fits) of one depth; the depths are
        independent, so two run at a time (common.side_by_side)."""
        names, gd_final, fits = [], {}, {}
        for name in config.parameterizations:
            key = f"{name}/depth{depth}"
            names.append(f"gd/{key}")
            result = train(problem.objectives[key], problem.initial[key], problem.data,
                           dynamics="gd", label=f"gd/{key}", rule=constant(config.lr),
                           max_steps=config.epochs - 1, target_log_loss=-np.inf, n_log=300,
                           record=None, partial=partial, progress=progress)
            gd_final[key] = float(np.exp(result.log_loss[0]))
        for name in config.flow_parameterizations if separable else ():
            key = f"{name}/depth{depth}"
            names.append(f"flow/{key}")
            result = train(
                problem.objectives[key], problem.initial[key], problem.data, dynamics="flow",
                label=f"flow/{key}", target_log_loss=config.flow_target_log_loss, n_log=400,
                record=None, partial=partial, progress=progress,
                flow={**config.flow.options(), "max_steps": 200_000},
            )
            t, log_l = result.trajectory.valid("t"), result.trajectory.valid("log_loss")
            keep = t > np.e  # log log t > 0: past the start, where the fit has no meaning
            fit = fit_loss_rate(t[keep], log_l[keep], window=tuple(config.fit_window),
                                fixed_q=1.0)
            counts = {k: float(v[0]) for k, v in result.trajectory.counts.items()}
            fits[f"flow_{name}_depth{depth}"] = {
                **counts, "p": fit.p, "p_interval": list(fit.p_interval),
                "fit_window_t": list(fit.window), "n_points": fit.n_points,
            }
        return names, gd_final, fits

    # merged in depth order: the outcome is the one a loop over the depths would store
    trajectories, gd_final, metrics = {}, {}, {"separable": separable}
    deepest_first = sorted(config.depths, reverse=True)  # the longest runs start first
    done = dict(zip(deepest_first, side_by_side(one_depth, deepest_first), strict=True))
    for names, depth_final, fits in (done[depth] for depth in config.depths):
        trajectories.update((name, partial[name]) for name in names)
        gd_final.update(depth_final)
        metrics.update(fits)
    metrics["gd_final_loss"] = gd_final
    initial = {f"initial_parameters_depth{d}": {
        arm: problem.initial[f"{arm}/depth{d}"] for arm in _arms(config)} for d in config.depths}
    return Outcome(metrics, trajectories, initial=initial)


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    m = outcome.metrics
    fits = {(n, d): m[f"flow_{n}_depth{d}"] for d in config.depths
            for n in config.flow_parameterizations if f"flow_{n}_depth{d}" in m}
    return _claims(config, m["separable"], m["gd_final_loss"], fits)


def figures(config: Config, outcome: Outcome) -> dict:
    out = {"gd_loss_curves": _gd_figure(config, outcome.trajectories)}
    if any(k.startswith("flow/") for k in outcome.trajectories):
        out["flow_rates"] = _flow_figure(config, outcome.trajectories, outcome.metrics)
    return out


def _spread(gd_final, name, depths) -> float | None:
    """max/min final loss over depths; None when a final loss is 0 or not finite (a huge lr
    can underflow it), so the ratio is undefined."""
    values = np.asarray([gd_final[f"{name}/depth{d}"] for d in depths], dtype=float)
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        return None
    return float(values.max() / values.min())


def _times(spread: float | None) -> str:
    return "undefined (a final loss is 0 or not finite)" if spread is None else f"x{spread:.1f}"


def _claims(config, separable, gd_final, fits) -> list[Claim]:
    claims = []
    depths = config.depths
    if "ewn" in config.parameterizations and "plain" in config.parameterizations and len(
            depths) > 1:
        ewn, plain = _spread(gd_final, "ewn", depths), _spread(gd_final, "plain", depths)
        claims.append(Claim(
            f"GD, after {config.epochs - 1} steps (the authors' final loss, epoch "
            f"{config.epochs}): EWN's loss curves nearly coincide across depth, the "
            "unnormalized ones spread widely",
            "loss(depth 1)/loss(depth 4): EWN 0.0087/0.0044 (x2), unnormalized 0.146/0.0021 (x70)",
            f"max/min final loss over depths {list(depths)}: EWN {_times(ewn)}, unnormalized "
            f"{_times(plain)}" + (f", SWN {_times(_spread(gd_final, 'swn', depths))}"
                                  if "swn" in config.parameterizations else ""),
            ewn is not None and plain is not None and ewn <= 3 and plain >= 10,
            criterion="the max/min ratio of the final GD loss over the depths is defined (every "
                      "loss positive and finite), at most 3 for EWN and at least 10 unnormalized",
        ))
    if not separable:
        claims.append(Claim(
            "Loss rates under gradient flow",
            "EWN: Theta(1/(t (log t)^2)) at every depth; unnormalized: 1/(t (log t)^(2-2/L))",
            "not measured: the data are not linearly separable, so the loss cannot go to 0",
            False,
            criterion="the data are linearly separable (here they are not, so it fails; "
                      f"flip_labels = {config.flip_labels} flips labels, 0 keeps the authors' "
                      "data)",
        ))
        return claims
    for (name, depth), fit in fits.items():
        theory = 2.0 if name == "ewn" else 2.0 - 2.0 / depth
        other = 2.0 - 2.0 / depth if name == "ewn" else 2.0
        label = "EWN" if name == "ewn" else name
        p, interval, window = fit["p"], fit["p_interval"], fit["fit_window_t"]
        close = abs(p - theory) <= 0.3 and abs(p - theory) < abs(p - other)
        claims.append(Claim(
            f"Flow, {label}, depth {depth}: L(t) t (log t)^p is flat for p = {theory:.3g}",
            f"p = {theory:.3g}" + (" (depth-independent)" if name == "ewn" else " (Lyu & Li)"),
            f"fitted p = {p:.3f} [{interval[0]:.3f}, {interval[1]:.3f}] "
            f"with q = 1, over t in [{window[0]:.2g}, {window[1]:.2g}]",
            bool(close),
            criterion=f"the fitted p (q = 1, fit_window {tuple(config.fit_window)} of the log t "
                      f"range) is within 0.3 of {theory:.3g} and closer to it than to the other "
                      f"parameterization's {other:.3g}",
        ))
    return claims


def _gd_figure(config, trajectories):
    names = list(config.parameterizations)
    fig, axes = plt.subplots(1, len(names), figsize=(4.3 * len(names), 3.6), squeeze=False,
                             sharey=True)
    for ax, name in zip(axes[0], names, strict=True):
        for depth in config.depths:
            t = trajectories[f"gd/{name}/depth{depth}"]
            ax.plot(np.maximum(t.valid("step"), 1), np.exp(t.valid("log_loss")),
                    label=f"depth {depth}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"{name}: GD, lr {config.lr:g}")
    axes[0][0].set_ylabel("training loss")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def _flow_figure(config, trajectories, metrics):
    names = list(config.flow_parameterizations)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for depth in config.depths:
            run = trajectories[f"flow/{name}/depth{depth}"]
            t, log_l = run.valid("t"), run.valid("log_loss")
            keep = t > np.e
            p = 2.0 if name == "ewn" else 2.0 - 2.0 / depth
            line, = ax.plot(np.log(t[keep]), log_exponent_product(t[keep], log_l[keep], p),
                            label=f"depth {depth}, p = {p:.3g} (theory)")
            fit = metrics.get(f"flow_{name}_depth{depth}") or {}
            if fit.get("fit_window_t"):  # the window the fitted exponent comes from
                lo, hi = np.log(fit["fit_window_t"])
                ax.axvspan(lo, hi, color=line.get_color(), alpha=0.08)
                ax.plot([lo, hi], [ax.get_ylim()[0]] * 2, lw=4, color=line.get_color(),
                        solid_capstyle="butt", label=f"fit window, depth {depth}")
        ax.set_xscale("log")
        ax.set_xlabel("log t")
        ax.set_ylabel("log(L t (log t)^p)")
        ax.set_title(f"{name}: gradient flow (flat where L ~ 1/(t (log t)^p))", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
