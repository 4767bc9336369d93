"""GD throughput of the ``min-width-bias`` experiment: wnbias (JAX) against a NumPy loop.

The problem is Min et al.'s E4.3 (``wnbias.experiments.min_width_bias``) at the paper's size:
X (n x D) with X_ij ~ N(0, 1/D), D = 500, n = 100, Y = X Theta + noise, a two-layer linear net
f(x) = V U^T x with m = 1, U (D x h) and V (1 x h) ~ N(0, 1/h), 5 seeds per width, GD on
||Y - X U V^T||^2 / 2 with step lr = ``mean_square_step(5e-3, n)`` (the paper's eta = 5e-3 on
(1/n)||.||^2). The data, the initial weights and the objective come from the experiment's own
``setup``. The full experiment runs each width to a loss of 1e-8 (about 6e4 steps, hours on 2
cores), so this script measures throughput over a fixed number of steps N instead. For each
width h, in the same process on the CPU:

- ``wnbias``: ``run_gd(objective, theta0 (5 seeds), data, constant(lr), max_steps=N,
  batched=True)`` with no target loss, so every seed takes exactly N steps;
- ``numpy``: the same GD as a plain NumPy loop, seed after seed, in the cheap O(D h) order:
  w = U @ V.T (D x 1), r = X @ w - Y, g = X.T @ r, then grad_V = g.T @ U and U -= (lr g) * V
  (the outer product grad_U = g V by broadcasting), and the loss r.r/2 every step, as a loop that
  stops on it needs;
- ``numpy, naive order`` (fewer steps, one timed call): X @ U first, O(n D h) per step.

Equal work: both take N steps per seed (checked from ``run_gd``'s step counts). Agreement: from
the same start, the NumPy loop's and wnbias' final loss and displacements U_N - U_0, V_N - V_0
must agree to 1e-10 relative; this is printed. Compilation is excluded: one untimed warm-up call
of each with the same arguments, then ``--repeats`` rounds of one wnbias and one NumPy call,
alternating (so that load from other processes hits both alike), and the best of each; from a
wnbias call's wall time the tracing, lowering and compile time that ``jax.monitoring`` reports is
subtracted (``timing.py``). The headline is the whole sweep: the NumPy time summed over the widths
over the wnbias time summed likewise. NumPy (OpenBLAS) and XLA keep their default thread counts;
both are printed and written to the JSON file (set ``OPENBLAS_NUM_THREADS`` and ``XLA_FLAGS`` in
the environment to change them).

Run from the repository root::

    .venv/bin/python benchmarks/min_width_bias_speed.py              # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/min_width_bias_speed.py --quick      # a smoke test, ~30 s
    .venv/bin/python benchmarks/min_width_bias_speed.py --json results.json

Target (from the project's issue): over widths 500 to 10 000 with 5 seeds, wnbias at least 5x the
NumPy implementation of the same GD loop, timed in the same run.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path

import jax
import numpy as np

import wnbias as wb
from wnbias.experiments import min_width_bias as mwb
from wnbias.experiments.common import mean_square_step

sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing.py, from any cwd
from timing import CompileTimer, environment, timed_call  # noqa: E402

jax.config.update("jax_platforms", "cpu")

WIDTHS = (500, 1000, 2000, 5000, 10_000)
TARGET = 5.0
AGREEMENT = 1e-10  # relative tolerance of the wnbias / NumPy check


def openblas_threads() -> int | None:
    """The thread count of the OpenBLAS that NumPy loaded, or None if it cannot be read."""
    try:  # Linux: the shared libraries this process has mapped
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(lib, name):
                return int(getattr(lib, name)())
    return None


# --------------------------------------------------------------------------------------------
# NumPy reference: what a careful researcher would write


def numpy_gd(x: np.ndarray, y: np.ndarray, u0: np.ndarray, v0: np.ndarray, lr: float,
             n_steps: int, naive: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_steps`` of GD on ||Y - X U V^T||^2 / 2 for each seed of ``u0`` (S, D, h), ``v0``
    (S, 1, h); returns the final U, V and each seed's last loss (at the final iterate)."""
    us, vs, losses = np.empty_like(u0), np.empty_like(v0), np.empty(len(u0))
    for s in range(len(u0)):  # one seed after another: its U stays in cache across steps
        u, v = u0[s].copy(), v0[s].copy()
        for k in range(n_steps + 1):  # n_steps updates, then the loss at the last iterate
            if naive:  # X @ U first: O(n D h)
                xu = x @ u
                r = xu @ v.T - y
            else:  # the end-to-end map first: O(D h)
                r = x @ (u @ v.T) - y
            losses[s] = 0.5 * float(r[:, 0] @ r[:, 0])  # the experiment stops on this
            if k == n_steps:
                break
            if naive:
                grad_v = r.T @ xu
                u -= lr * (x.T @ (r @ v))
            else:
                g = x.T @ r  # (D, 1)
                grad_v = g.T @ u  # (1, h), from the old U
                u -= (lr * g) * v  # grad_U = g V, an outer product; lr folded into g
            v -= lr * grad_v
        us[s], vs[s] = u, v
    return us, vs, losses


def wall(fn, *args, **kwargs) -> tuple[object, float]:
    """``fn(*args, **kwargs)`` and its wall time."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# Timing both on one width


def time_width(problem, key: str, lr: float, n_steps: int, repeats: int,
               timer: CompileTimer) -> tuple[dict, dict, tuple]:
    """wnbias and NumPy on one width: a warm-up of each, then ``repeats`` rounds of one timed
    call of each, alternating, so that load from other processes hits both alike. Returns both
    figures and the final (wnbias run, NumPy U, V, losses) of the last round."""
    x, y = problem.extra["x"], problem.extra["y"]
    u0, v0 = problem.extra["starts"][key]
    chunk = min(n_steps, 2000)  # run_gd's default chunk, or one scan for short runs

    def jax_call():
        return wb.run_gd(problem.objectives[key], problem.initial[key], problem.data,
                         wb.constant(lr), max_steps=n_steps, batched=True, chunk=chunk)

    _, cold = timed_call(jax_call, timer)  # compiles for this shape
    numpy_gd(x, y, u0, v0, lr, min(n_steps, 2))  # warm-up (allocator, BLAS threads)
    jax_samples, numpy_samples = [], []
    for _ in range(repeats):
        jax_run, sample = timed_call(jax_call, timer)
        steps = jax_run.trajectory.counts["steps"]
        if not np.all(steps == n_steps):  # equal work: exactly N steps for every seed
            raise RuntimeError(f"expected {n_steps} steps per seed, got {steps}")
        jax_samples.append(sample)
        numpy_out, seconds = wall(numpy_gd, x, y, u0, v0, lr, n_steps)
        numpy_samples.append(seconds)
    seed_steps = len(u0) * n_steps
    best_jax = min(s["run_s"] for s in jax_samples)
    jax_fig = {"n_steps": n_steps, "chunk": chunk, "cold": cold, "samples": jax_samples,
               "run_s": best_jax, "seed_steps_per_s": seed_steps / best_jax}
    numpy_fig = {"n_steps": n_steps, "samples_s": numpy_samples, "run_s": min(numpy_samples),
                 "seed_steps_per_s": seed_steps / min(numpy_samples)}
    return jax_fig, numpy_fig, (jax_run, numpy_out)


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def agreement(jax_run, numpy_out, u0: np.ndarray, v0: np.ndarray, start_loss: float) -> dict:
    """Relative differences of the final loss and of the displacements from the start (U
    itself barely moves in N steps, so comparing U alone would prove little)."""
    u_np, v_np, loss_np = numpy_out
    u_jax = np.transpose(jax_run.theta["layer1"]["w"], (0, 2, 1))
    v_jax = jax_run.theta["layer2"]["w"]
    loss_jax = np.exp(jax_run.log_loss)  # L = ||r||^2 / 2
    return {"loss": relative(loss_jax, loss_np), "delta_u": relative(u_jax - u0, u_np - u0),
            "delta_v": relative(v_jax - v0, v_np - v0),
            "loss_drop": float(1 - loss_np.mean() / start_loss)}  # how far N steps got


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="20 steps, 1 repeat, widths 500-2000: a smoke test")
    parser.add_argument("--steps", type=int, help="GD steps per seed and width (default 200)")
    parser.add_argument("--widths", type=lambda s: tuple(int(w) for w in s.split(",")),
                        help="comma-separated widths (default 500,1000,2000,5000,10000)")
    parser.add_argument("--repeats", type=int, help="timed calls per figure (default 3)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    n_steps = args.steps or (20 if args.quick else 200)
    widths = args.widths or ((500, 1000, 2000) if args.quick else WIDTHS)
    repeats = args.repeats or (1 if args.quick else 3)
    naive_steps = max(n_steps // 20, 1)
    config = mwb.Config(d=500, n=100, widths=widths)  # the paper's D, n; 5 seeds
    lr = mean_square_step(config.eta, config.n)

    env = environment()
    env["load_average_at_start"] = os.getloadavg()  # other processes skew the figures
    threads = {"openblas": openblas_threads(), "cpu_count": os.cpu_count(),
               "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS", "XLA_FLAGS")}}
    print(f"min-width-bias, float64 on {env['jax_backend']} ({env['cpu_count']} cores); jax "
          f"{env['jax']}, numpy {np.__version__} (OpenBLAS threads: {threads['openblas']}), "
          f"XLA_FLAGS={env['xla_flags']}; load average {env['load_average_at_start'][0]:.2f}")
    print(f"D = {config.d}, n = {config.n}, {config.n_seeds} seeds, lr = {lr:g}; {n_steps} steps "
          f"per seed and width (naive order: {naive_steps}); best of {repeats} after a warm-up\n")

    if env["load_average_at_start"][0] > 0.5:
        print(f"note: the machine is busy (load average {env['load_average_at_start'][0]:.2f}); "
              "multi-threaded BLAS and XLA calls can then stall, so figures vary\n")
    timer = CompileTimer()
    rows = []
    for h in widths:
        problem = mwb.setup(dataclasses.replace(config, widths=(h,)))
        key = f"h{h}"
        x, y = problem.extra["x"], problem.extra["y"]
        u0, v0 = problem.extra["starts"][key]
        start_loss = float(np.mean(numpy_gd(x, y, u0, v0, lr, 0)[2]))
        jx, npy, (jax_run, numpy_out) = time_width(problem, key, lr, n_steps, repeats, timer)
        rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        check = agreement(jax_run, numpy_out, u0, v0, start_loss)
        # the naive order: one timed call of fewer steps, checked against the cheap order
        naive_out, naive_s = wall(numpy_gd, x, y, u0, v0, lr, naive_steps,
                                    naive=True)
        naive = {"n_steps": naive_steps, "run_s": naive_s,
                 "seed_steps_per_s": len(u0) * naive_steps / naive_s}
        cheap_short = numpy_gd(x, y, u0, v0, lr, naive_steps)
        check["naive_vs_cheap_delta_u"] = relative(naive_out[0] - u0, cheap_short[0] - u0)
        row = {"width": h, "wnbias": jx, "numpy": npy, "numpy_naive": naive, "agreement": check,
               "ratio": jx["seed_steps_per_s"] / npy["seed_steps_per_s"],
               "peak_rss_gib_after_wnbias": rss_gib}
        rows.append(row)
        ok = max(check["loss"], check["delta_u"], check["delta_v"]) <= AGREEMENT
        print(f"h = {h:>6}: wnbias {jx['seed_steps_per_s']:>9,.0f} seed-steps/s, numpy "
              f"{npy['seed_steps_per_s']:>7,.0f}, naive {naive['seed_steps_per_s']:>5,.0f}, "
              f"ratio {row['ratio']:5.2f}x | compile {jx['cold']['compile_s']:.1f} s (excluded) "
              f"| rel. diff loss {check['loss']:.1e}, dU {check['delta_u']:.1e}, dV "
              f"{check['delta_v']:.1e}: {'ok' if ok else 'DISAGREE'}", flush=True)
        if not ok:
            raise RuntimeError(f"wnbias and NumPy disagree at h={h}: {check}")

    total_jax = sum(r["wnbias"]["run_s"] for r in rows)
    total_np = sum(r["numpy"]["run_s"] for r in rows)
    total_ratio = total_np / total_jax
    verdict = "met" if total_ratio >= TARGET else "NOT met"
    print(f"\nwhole sweep, {n_steps} steps x {config.n_seeds} seeds per width: wnbias "
          f"{total_jax:.2f} s, numpy {total_np:.2f} s, ratio {total_ratio:.2f}x "
          f"(target >= {TARGET:g}x: {verdict})")
    load = os.getloadavg()
    print(f"peak RSS {max(r['peak_rss_gib_after_wnbias'] for r in rows):.2f} GiB; load average "
          f"at the end {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")

    numbers = {
        "problem": {"experiment": "min-width-bias", "d": config.d, "n": config.n,
                    "n_seeds": config.n_seeds, "eta": config.eta, "lr": lr, "dtype": "float64"},
        "environment": env, "threads": threads,
        "settings": {"steps": n_steps, "naive_steps": naive_steps, "widths": list(widths),
                     "repeats": repeats, "quick": args.quick},
        "widths": rows,
        "load_average_at_end": load,
        "total": {"wnbias_s": total_jax, "numpy_s": total_np, "ratio": total_ratio,
                  "target": TARGET, "met": total_ratio >= TARGET},
    }
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return numbers


if __name__ == "__main__":
    main()
