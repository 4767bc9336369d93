"""Time to log-loss -300 on the EWN lin-sep problem: GD and gradient flow in wnbias, torch eager.

The problem is the ``ewn-lin-sep`` experiment (PAPERS.md E1.1), EWN only, in float64: the
authors' four lin-sep training points in R^2 (``lin_sep_points(2137)``, labels -1, -1, +1, +1), a
bias-free 2-layer relu^2 net with 8 hidden neurons (``mlp((2, 8, 1), "relu2")``), EWN on both
layers (w_u = exp(a_u) v_u/||v_u||; the output layer is one 8-d neuron), the logistic loss summed
over the points, and the initial weights ``model.init(PRNGKey(2137))``. Every run goes from
there to log-loss -300.

Three runs, all in the same process on the CPU, on one core:

- ``wnbias GD``: ``wnbias.run_gd`` with the authors' schedule, a step on log L with multiplier
  c = lr L^(1/30), lr from 0.01; a step that raises the loss is undone and lr /= 1.1, otherwise
  lr = min(1.1 lr, 0.01); at most 40 000 accepted steps, stop at log-loss -300. No ``record``:
  the bare training.
- ``wnbias flow``: ``wnbias.dynamics.flow.run_flow`` in the log-loss clock (``LogLossClock``;
  diffrax Tsit5, rtol 1e-8, atol 1e-10, the defaults), integrated to log-loss -300.
- ``torch eager``: the same GD written plainly in PyTorch the way the authors wrote
  ``lin-sep.py`` (float64, one thread; per step: forward, backward, parameter update, recompute
  the loss, undo the step if the loss rose), from the same initial weights. Skipped, with a
  note, when torch is not installed.

Compilation is excluded. ``run_gd`` caches its compiled code across calls with the same
``log_loss`` and ``rule`` objects, so a timed call after an untimed warm-up compiles nothing;
``run_flow`` builds and jits a new solve on every call. From each timed call's wall time the
script subtracts the time JAX reports, through ``jax.monitoring``, for tracing, lowering and
compiling (as ``xor_speed.py`` does), and reports the best of ``--repeats`` calls. The wall
time with compilation is reported too: the first (cold) call of each, and the flow's timed
calls before the subtraction. The torch loop is timed the same way: a warm-up, then the best
of ``--repeats``.

One core: the script sets ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1`` (appended to any ``XLA_FLAGS`` already set) before importing
jax, runs XLA on the CPU, and sets ``torch.set_num_threads(1)``; no ``taskset``. To show that
the timed work really ran on one core, the process CPU time of every timed call is recorded
next to its wall time and printed as cpu/wall (near 1: one core busy; for the flow the call
includes its compilation).

Run from the repository root::

    .venv/bin/python benchmarks/lin_sep_speed.py              # full run, about 25 s on 2 cores
    .venv/bin/python benchmarks/lin_sep_speed.py --quick      # 1 repeat, a smoke test
    .venv/bin/python benchmarks/lin_sep_speed.py --json results.json

Target (from the project's issue): log-loss -300 by GD and by gradient flow, each in under 10 s
on one core after compilation; the torch eager loop measured on the same problem, and the
ratio of its time to wnbias GD's printed.
"""

from __future__ import annotations

import os

# One core for XLA: must be set before jax is imported (here, and by ``import wnbias``). The
# flag that matters is --xla_cpu_multi_thread_eigen=false (XLA's CPU ops then run on the calling
# thread); intra_op_parallelism_threads=1 is the usual companion of that recipe. Flags already
# in XLA_FLAGS are kept.
_ONE_CORE_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_ONE_CORE_FLAGS}".strip()
os.environ["JAX_PLATFORMS"] = "cpu"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import wnbias as wb  # noqa: E402
from wnbias.data.synthetic import lin_sep_points  # noqa: E402
from wnbias.dynamics.flow import LogLossClock, run_flow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing.py, from any cwd
from timing import CompileTimer, environment, timed_call  # noqa: E402

jax.config.update("jax_platforms", "cpu")

SEED = 2137
WIDTH = 8
LR, FRAC, LR_LIMIT, GROW, SHRINK = 0.01, 30.0, 0.01, 1.1, 1.1
TARGET_LOG_LOSS = -300.0
MAX_STEPS = 40_000
TARGET_SECONDS = 10.0


# --------------------------------------------------------------------------------------------
# wnbias


def wnbias_setup():
    """The log-loss, the GD rule, the data and the EWN parameters at init."""
    x, y, _, _ = lin_sep_points(SEED)
    model = wb.mlp((2, WIDTH, 1), "relu2")
    reparam = wb.get_reparam("ewn")
    log_loss = wb.make_log_loss(model, reparam, wb.get_loss("logistic"))
    rule = wb.backtracking(wb.loss_adaptive(LR, FRAC), lr_limit=LR_LIMIT, grow=GROW,
                           shrink=SHRINK)
    theta0 = wb.encode(model.init(jax.random.PRNGKey(SEED)), reparam)
    return log_loss, rule, (jnp.asarray(x), jnp.asarray(y)), theta0


def best_of(samples: list[dict]) -> dict:
    return min(samples, key=lambda s: s["run_s"])


def time_gd(setup, repeats: int, chunk: int, compile_timer: CompileTimer) -> dict:
    log_loss, rule, data, theta0 = setup

    def call():
        return wb.run_gd(log_loss, theta0, data, rule, max_steps=MAX_STEPS,
                         target_log_loss=TARGET_LOG_LOSS, chunk=chunk)

    result, cold = timed_call(call, compile_timer)  # compiles: the cold figure
    samples = []
    for _ in range(repeats):
        result, sample = timed_call(call, compile_timer)
        samples.append(sample)
    status = result.trajectory.status_names()[0]
    if status != "target":
        raise RuntimeError(f"GD did not reach log-loss {TARGET_LOG_LOSS:g}: status {status}")
    best = best_of(samples)
    steps = int(result.trajectory.counts["steps"][0])
    return {
        "status": status, "steps": steps, "attempts": int(result.trajectory.counts["attempts"][0]),
        "final_log_loss": float(result.log_loss[0]), "chunk": chunk,
        "cold": cold, "samples": samples,
        "run_s": best["run_s"], "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
        "compile_s": statistics.median(s["compile_s"] for s in samples),
        "steps_per_s": steps / best["run_s"],
        "wall_with_compile_s": cold["wall_s"],
    }


def time_flow(setup, repeats: int, compile_timer: CompileTimer) -> dict:
    log_loss, _, data, theta0 = setup

    def call():
        return run_flow(log_loss, theta0, data, clock=LogLossClock(target_log_loss=TARGET_LOG_LOSS))

    result, cold = timed_call(call, compile_timer)
    samples = []
    for _ in range(repeats):
        result, sample = timed_call(call, compile_timer)
        samples.append(sample)
    t = result.trajectory
    if t.status_names() != ["target"]:
        raise RuntimeError(f"the flow did not reach log-loss {TARGET_LOG_LOSS:g}: "
                           f"{t.status_names()[0]} {t.message}")
    best = best_of(samples)
    return {
        "status": t.status_names()[0], "solver_steps": int(t.counts["solver_steps"][0]),
        "accepted_steps": int(t.counts["accepted_steps"][0]),
        "rejected_steps": int(t.counts["rejected_steps"][0]),
        "nfe": int(t.counts["function_evaluations"][0]), "final_log_loss": float(
            result.log_loss[0]), "final_time": float(t.counts["time"][0]),
        "cold": cold, "samples": samples,
        "run_s": best["run_s"], "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
        "compile_s": statistics.median(s["compile_s"] for s in samples),
        "wall_with_compile_s": statistics.median(s["wall_s"] for s in samples),
    }


def gd_log_loss_after(setup, n_steps: int, chunk: int) -> float:
    """wnbias GD's log-loss after ``n_steps`` accepted steps, no target (the same-math check)."""
    log_loss, rule, data, theta0 = setup
    result = wb.run_gd(log_loss, theta0, data, rule, max_steps=n_steps, chunk=chunk)
    return float(result.log_loss[0])


# --------------------------------------------------------------------------------------------
# PyTorch eager reference, written like the authors' lin-sep.py


def make_torch_loop(theta0: dict) -> Callable[..., dict]:
    """``train(max_steps, target) -> {steps, attempts, log_loss}``, from ``theta0`` every call."""
    import torch

    torch.set_num_threads(1)
    x_np, y_np, _, _ = lin_sep_points(SEED)
    x = torch.tensor(x_np, dtype=torch.float64)
    y = torch.tensor(y_np, dtype=torch.float64)
    init = {layer: {k: np.asarray(v) for k, v in p.items()} for layer, p in theta0.items()}

    def train(max_steps: int = MAX_STEPS, target: float = TARGET_LOG_LOSS) -> dict:
        # per layer: s (log scale, one per neuron) and v (neuron-major directions)
        params = [
            (torch.tensor(init[layer]["a"], dtype=torch.float64, requires_grad=True),
             torch.tensor(init[layer]["v"], dtype=torch.float64, requires_grad=True))
            for layer in ("layer1", "layer2")
        ]
        leaves = [p for pair in params for p in pair]

        def weights():
            return [torch.exp(s)[:, None] * v / v.norm(dim=1, keepdim=True) for s, v in params]

        def normalized_loss(last_log_loss: float) -> torch.Tensor:
            # L / L_prev, as the authors track the loss in the log domain.
            w1, w2 = weights()
            margins = y * (torch.relu(x @ w1.T) ** 2 @ w2.T)[:, 0]
            if margins.min() > 30:  # the authors' switch to the exponential tail
                return torch.exp(-margins - last_log_loss).sum()
            return (torch.log1p(torch.exp(-margins)) * math.exp(-last_log_loss)).sum()

        lr, steps, attempts = LR, 0, 0
        max_attempts = 10 * max_steps + 10_000  # run_gd's default cap
        with torch.no_grad():
            last_log_loss = math.log(normalized_loss(0.0).item())
        while last_log_loss > target and steps < max_steps and attempts < max_attempts:
            loss = normalized_loss(last_log_loss)
            for p in leaves:
                p.grad = None
            loss.backward()
            c = lr * math.exp(last_log_loss / FRAC)
            attempts += 1
            with torch.no_grad():
                for p in leaves:
                    p -= c * p.grad
                new = normalized_loss(last_log_loss).item()
                if new > 1 or new == 0 or not math.isfinite(new):  # loss rose: undo
                    for p in leaves:
                        p += c * p.grad
                    lr /= SHRINK
                else:
                    last_log_loss += math.log(new)
                    lr = min(lr * GROW, LR_LIMIT)
                    steps += 1
        return {"steps": steps, "attempts": attempts, "log_loss": last_log_loss}

    return train


def time_torch(train: Callable[..., dict], repeats: int) -> dict:
    train(max_steps=50, target=-math.inf)  # warm-up
    samples, result = [], None
    for _ in range(repeats):
        cpu0, start = time.process_time(), time.perf_counter()
        result = train()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        samples.append({"run_s": wall, "wall_s": wall, "cpu_s": cpu})
    if result["log_loss"] > TARGET_LOG_LOSS:
        raise RuntimeError(f"the torch loop stopped at log-loss {result['log_loss']:.4g}")
    best = best_of(samples)
    return {"steps": result["steps"], "attempts": result["attempts"],
            "final_log_loss": result["log_loss"], "samples": samples,
            "run_s": best["run_s"], "wall_s": best["wall_s"], "cpu_s": best["cpu_s"],
            "steps_per_s": result["steps"] / best["run_s"]}


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one timed call per figure (a smoke test, noisier figures)")
    parser.add_argument("--repeats", type=int, help="timed calls per figure (best is kept)")
    parser.add_argument("--chunk", type=int, default=2000,
                        help="run_gd chunk (scan length; run_gd's default is 2000)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)

    env = environment()
    print(f"ewn-lin-sep to log-loss {TARGET_LOG_LOSS:g}, EWN, float64 on {env['jax_backend']} "
          f"({env['cpu_count']} cores, XLA single-threaded); jax {env['jax']}, torch "
          f"{env['torch'] or 'not installed'}")
    print(f"best of {repeats} timed calls after a warm-up; compile time excluded\n")

    compile_timer = CompileTimer()
    setup = wnbias_setup()
    gd = time_gd(setup, repeats, args.chunk, compile_timer)
    flow = time_flow(setup, repeats, compile_timer)

    torch_result, ratio, agreement = None, None, None
    if env["torch"] is None:
        print("note: torch is not installed, so the PyTorch eager reference is skipped "
              "(.venv/bin/pip install torch==2.13.0 to include it)\n")
    else:
        train = make_torch_loop(setup[3])
        torch_result = time_torch(train, repeats)
        ratio = torch_result["run_s"] / gd["run_s"]
        # Same math: the log-loss after the same number of accepted steps, no target.
        n_check = max(gd["steps"] // 2, 1)
        jax_check = gd_log_loss_after(setup, n_check, args.chunk)
        torch_check = train(max_steps=n_check, target=-math.inf)["log_loss"]
        agreement = {
            "steps_to_target": {"wnbias": gd["steps"], "torch": torch_result["steps"],
                                "difference": torch_result["steps"] - gd["steps"]},
            "attempts_to_target": {"wnbias": gd["attempts"], "torch": torch_result["attempts"]},
            "check_steps": n_check, "wnbias_log_loss": jax_check, "torch_log_loss": torch_check,
            "abs_diff": abs(jax_check - torch_check),
        }

    def under(seconds: float) -> str:
        return f"under {TARGET_SECONDS:g} s: {'met' if seconds < TARGET_SECONDS else 'NOT met'}"

    def load(run: dict) -> str:
        return f"cpu/wall {run['cpu_s'] / run['wall_s']:.2f}"

    rows = [
        ("wnbias GD", f"{gd['run_s']:.3f} s",
         f"{gd['steps']} steps ({gd['attempts']} attempts), {gd['steps_per_s']:,.0f} steps/s; "
         f"{under(gd['run_s'])}"),
        ("", "", f"cold call with compile {gd['wall_with_compile_s']:.2f} s; {load(gd)}"),
        ("wnbias flow", f"{flow['run_s']:.3f} s",
         f"{flow['solver_steps']} solver steps ({flow['rejected_steps']} rejected), "
         f"nfe {flow['nfe']}; {under(flow['run_s'])}"),
        ("", "", f"with compile {flow['wall_with_compile_s']:.2f} s per call "
         f"(compile {flow['compile_s']:.2f} s, cold call {flow['cold']['wall_s']:.2f} s); "
         f"{load(flow)} (whole call)"),
        ("torch eager",
         "skipped" if torch_result is None else f"{torch_result['run_s']:.3f} s",
         "" if torch_result is None else
         f"{torch_result['steps']} steps ({torch_result['attempts']} attempts), "
         f"{torch_result['steps_per_s']:,.0f} steps/s, 1 thread; {load(torch_result)}"),
        ("torch / wnbias GD", "-" if ratio is None else f"{ratio:,.1f}x", "time ratio"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, value, note in rows:
        print(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {note}")
    if agreement is not None:
        steps = agreement["steps_to_target"]
        print(f"\nsame math: steps to {TARGET_LOG_LOSS:g}: {steps['wnbias']} (wnbias) vs "
              f"{steps['torch']} (torch), difference {steps['difference']:+d}; after "
              f"{agreement['check_steps']} steps log L = {agreement['wnbias_log_loss']:.12g} "
              f"(wnbias) vs {agreement['torch_log_loss']:.12g} (torch), |diff| "
              f"{agreement['abs_diff']:.1e}")

    numbers = {
        "problem": {"experiment": "ewn-lin-sep", "seed": SEED, "width": WIDTH,
                    "activation": "relu2", "reparam": "ewn", "loss": "logistic",
                    "dtype": "float64", "target_log_loss": TARGET_LOG_LOSS,
                    "gd": {"lr": LR, "frac": FRAC, "lr_limit": LR_LIMIT, "grow": GROW,
                           "shrink": SHRINK, "max_steps": MAX_STEPS},
                    "flow": {"solver": "tsit5", "rtol": 1e-8, "atol": 1e-10,
                             "clock": "log_loss"}},
        "environment": env,
        "settings": {"repeats": repeats, "chunk": args.chunk, "quick": args.quick},
        "wnbias_gd": gd,
        "wnbias_flow": flow,
        "torch_eager": torch_result,
        "ratio_torch_vs_gd": ratio,
        "targets": {
            "gd_under_s": {"target": TARGET_SECONDS, "met": gd["run_s"] < TARGET_SECONDS},
            "flow_under_s": {"target": TARGET_SECONDS, "met": flow["run_s"] < TARGET_SECONDS},
        },
        "agreement": agreement,
    }
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"\nnumbers written to {args.json}")
    return numbers


if __name__ == "__main__":
    main()
