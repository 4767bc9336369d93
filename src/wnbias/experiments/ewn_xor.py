"""ewn-xor: EWN drives most ReLU neurons to relatively vanishing norm (Morwani & Ramaswamy, E1.3).

Four XOR points, a 2-layer ReLU net with 20 hidden neurons and no bias, the second layer fixed
to +1 (neurons 0-9) and -1 (neurons 10-19); only the first layer is trained, unnormalized, with
SWN or with EWN, from the same initial function. By default that is the authors' own start:
PyTorch's ``nn.Linear(2, 20)`` default init under ``torch.manual_seed(9156)``, reproduced bit for
bit (``init=torch``; seed i of ``n_seeds`` uses torch seed 9156 + i, so seed 0 is the authors'
run). Logistic loss, the authors' GD rule per parameterization (PAPERS.md §1.6), to log-loss -50.
The seeds run together under ``vmap``; each claim uses the median over the seeds of its arms
that reached the target, and fails only when fewer than half of an arm's seeds did.
"""

from __future__ import annotations

from functools import cache

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from ..data.synthetic import xor_points
from ..losses import get_loss
from ..measure.margin import normalized_margin
from ..measure.neurons import count_dominant, neuron_grad_cosines
from ..models import mlp
from ..objective import make_log_loss
from ..reparam import decode, get_reparam
from .base import Claim, Outcome, Problem
from .common import as_dtype, finished, finished_note, initial_parameters, step_counts, train
from .specs.ewn_xor import EXPERIMENT, MAX_SEEDS, Config  # noqa: F401  (re-exported)


def _model(config: Config, dtype: str):
    return _network(config.width, dtype)


@cache  # one model per width and dtype, one objective per arm: GD's programs are keyed by them
def _network(width: int, dtype: str):
    half = width // 2
    output = np.concatenate([np.ones(half), -np.ones(width - half)])[None, :]
    return mlp((2, width, 1), "relu", frozen={2: as_dtype(output, dtype)})


@cache
def _objective(width: int, dtype: str, arm: str):
    return make_log_loss(_network(width, dtype), get_reparam(arm), get_loss("logistic"))


@cache  # one function per parameterization, for the same reason
def _recorder(reparam):
    def record(theta):
        return {"neuron_norms": jnp.linalg.norm(decode(theta, reparam)["layer1"], axis=1)}

    return record


@cache  # one program per arm's objective: decoding and both measures of every seed at once
def _measures(objective):
    """``(theta, x, y) -> (first-layer weights, cos(w_u, grad_u L) per neuron, normalized
    margin)`` per seed, jitted: run op by op it was about 30 small compilations per arm."""
    model, loss, reparam = objective.model, objective.criterion, objective.spec

    def one(theta, x, y):
        weights = decode(theta, reparam)
        cosines = neuron_grad_cosines(
            lambda w: loss.log_total(model.apply(w, x), y), weights)["layer1"]
        return weights["layer1"], cosines, normalized_margin(model, loss, weights, x, y)

    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def setup(config: Config) -> Problem:
    """The XOR points, the 20-neuron net (output fixed to +-1) and its start per arm."""
    model = _model(config, config.dtype)
    thetas, n_seeds = initial_parameters(config, model, config.parameterizations, config.n_seeds)
    return Problem(
        data=tuple(as_dtype(a, config.dtype) for a in xor_points()),
        objectives={n: _objective(config.width, config.dtype, n)
                    for n in config.parameterizations},
        initial=thetas, extra={"n_seeds": n_seeds},
    )


def run(config: Config, problem: Problem, progress: bool = False) -> Outcome:
    x, y = problem.data
    trajectories, final_norms = {}, {}
    metrics = {"n_seeds": problem.extra["n_seeds"]}
    for name, objective in problem.objectives.items():
        reparam = objective.spec
        result = train(
            objective, problem.initial[name], problem.data, dynamics="gd", label=name,
            rule=config.gd.rule(name), max_steps=config.gd.max_steps,
            target_log_loss=config.target_log_loss, n_log=300, partial=trajectories,
            record=_recorder(reparam),
            progress=progress,
        )
        layer1, cosines, margins = _measures(objective)(result.theta, x, y)
        norms = np.linalg.norm(np.asarray(layer1, np.float64), axis=-1)
        final_norms[name] = norms.tolist()
        dominant = np.asarray(count_dominant(norms, config.dominance_threshold))
        is_dominant = norms >= config.dominance_threshold * norms.max(axis=1, keepdims=True)
        metrics[name] = {
            **step_counts(result.trajectory),
            "final_log_loss": result.log_loss.tolist(),
            "dominant_neurons": dominant.tolist(),
            "sorted_relative_norms_seed0": np.sort(norms[0] / norms[0].max())[::-1]
            .round(4).tolist(),
            "final_norms_seed0": norms[0].round(4).tolist(),
            "normalized_margin": np.asarray(margins).tolist(),
            "median_cos_w_grad_dominant": float(np.median(np.asarray(cosines)[is_dominant])),
        }
    return Outcome(metrics, trajectories, details={"final_norms": final_norms},
                   initial={"initial_parameters": problem.initial})


def claims(config: Config, outcome: Outcome) -> list[Claim]:
    steps = {n: np.asarray(outcome.metrics[n]["epochs"]) for n in config.parameterizations}
    norms = {n: np.asarray(v) for n, v in outcome.details["final_norms"].items()}
    return _claims(config, norms, steps, outcome.metrics)


def figures(config: Config, outcome: Outcome) -> dict:
    norms = {n: np.asarray(v) for n, v in outcome.details["final_norms"].items()}
    return {"neuron_norms": _norms_figure(config, outcome.trajectories),
            "relative_norms": _relative_figure(config, norms)}


LABELS = {"ewn": "EWN", "swn": "SWN", "plain": "unnormalized"}


def _finished_values(metrics, name, key) -> np.ndarray:
    """``metrics[name][key]`` over the seeds of ``name`` that reached the target."""
    return np.asarray(metrics[name][key])[finished(metrics, name)]


def _claim(name, paper, arms, metrics, measure, criterion) -> Claim:
    """A claim about ``arms``, judged over their seeds that reached the target: ``measure()``
    returns (measured text, holds); the claim fails if fewer than half of an arm's seeds
    finished (sparsity is a statement about the end of training). ``criterion`` is the test
    ``measure`` applies."""
    criterion = (f"{criterion} (medians over the seeds that reached the target; at least half "
                 "of each arm's seeds must reach it, else the claim fails unjudged)")
    enough, note = finished_note(metrics, arms, LABELS)
    if not enough:
        return Claim(name, paper, f"not judged: fewer than half of the seeds finished ({note})",
                     False, criterion=criterion)
    measured, holds = measure()
    return Claim(name, paper, f"{measured}; {note}", bool(holds), criterion=criterion)


def _claims(config, final_norms, steps, metrics) -> list[Claim]:
    t, w, claims = config.dominance_threshold, config.width, []
    arms = [n for n in config.parameterizations]

    def count(n):
        return float(np.median(_finished_values(metrics, n, "dominant_neurons")))

    def per_seed(n):
        return ", ".join(map(str, _finished_values(metrics, n, "dominant_neurons")))

    if "ewn" in arms and "plain" in arms:
        claims.append(_claim(
            "EWN has far fewer dominant neurons than unnormalized GD",
            "EWN: 4 of 20 neurons >= 0.78 of the largest, the rest <= 0.15; unnormalized: all "
            "20 in 0.60-1.0", ("ewn", "plain"), metrics,
            lambda: (f"neurons >= {t:g} x largest, median over seeds: EWN {count('ewn'):g} "
                     f"[{per_seed('ewn')}], unnormalized {count('plain'):g} "
                     f"[{per_seed('plain')}]", count("ewn") <= count("plain") / 2),
            criterion=f"EWN's median number of neurons with norm >= {t:g} x the largest "
                      "(dominance_threshold) is at most half unnormalized GD's",
        ))
    if "plain" in arms:
        def smallest():
            norms = final_norms["plain"][finished(metrics, "plain")]
            return float(np.median(norms.min(1) / norms.max(1)))

        claims.append(_claim(
            "Unnormalized GD keeps every neuron",
            "all 20 neurons between 0.60 and 1.0 of the largest", ("plain",), metrics,
            lambda: (f"median {count('plain'):g} of {w} neurons >= {t:g} x largest; smallest "
                     f"relative norm (median over seeds) {smallest():.2f}",
                     count("plain") == w),
            criterion=f"unnormalized GD's median number of neurons with norm >= {t:g} x the "
                      f"largest (dominance_threshold) equals the width, {w}",
        ))
    if "swn" in arms and "ewn" in arms:
        claims.append(_claim(
            "SWN stays dense: many more dominant neurons than EWN",
            "SWN: 16 neurons between 0.39 and 1.0, 4 collapse to about 0", ("swn", "ewn"),
            metrics,
            lambda: (f"median dominant neurons: SWN {count('swn'):g} [{per_seed('swn')}], "
                     f"EWN {count('ewn'):g}", count("swn") >= 2 * count("ewn")),
            criterion=f"SWN's median number of neurons with norm >= {t:g} x the largest "
                      "(dominance_threshold) is at least twice EWN's",
        ))
    if "ewn" in arms and "plain" in arms:
        def medians():  # over the finished seeds of each arm (SWN shown when any finished)
            return {n: float(np.median(steps[n][finished(metrics, n)])) for n in arms
                    if finished(metrics, n).any()}

        claims.append(_claim(
            f"EWN needs more GD epochs than unnormalized GD to reach log-loss "
            f"{config.target_log_loss:g}",
            "epochs to log-loss -50: EWN 2 785, SWN 1 482, unnormalized 1 617 (seed 9156)",
            ("ewn", "plain"), metrics,
            lambda: ("median epochs: " + ", ".join(
                f"{LABELS[n]} {m:.0f}" for n, m in medians().items())
                + "; seed 0: " + ", ".join(f"{LABELS[n]} {int(steps[n][0])}" for n in arms),
                medians()["ewn"] > medians()["plain"]),
            criterion="EWN's median epoch count to log-loss "
                      f"{config.target_log_loss:g} is larger than unnormalized GD's",
        ))
    return claims


def _norms_figure(config, trajectories):
    names = list(config.parameterizations)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        t = trajectories[name]
        ax.plot(np.maximum(t.valid("step"), 1), t.valid("neuron_norms"), lw=1)
        ax.set_xscale("log")
        start = (f"torch seed {config.seed}" if config.init == "torch" and not config.init_from
                  else "seed 0")
        ax.set_title(f"{name}: ||w_u|| of all {config.width} neurons ({start})", fontsize=10)
        ax.set_xlabel("GD step")
        ax.set_ylabel("||w_u||")
    fig.tight_layout()
    return fig


def _relative_figure(config, final_norms):
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, norms in final_norms.items():
        rel = np.sort(norms / norms.max(axis=1, keepdims=True), axis=1)[:, ::-1]
        ax.plot(np.arange(1, config.width + 1), np.median(rel, axis=0), marker="o", label=name)
    ax.axhline(config.dominance_threshold, color="gray", ls="--", lw=1, label="threshold")
    ax.set_xlabel("neuron rank")
    ax.set_ylabel("||w_u|| / max ||w_v|| (median over seeds)")
    ax.set_title("Final relative neuron norms")
    ax.legend()
    fig.tight_layout()
    return fig
