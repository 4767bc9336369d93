"""GD time of the ``chou-dln-robust`` alpha sweep: wnbias (JAX, vmap) against NumPy loops.

The problem is the plain-GD arm of ``wnbias.experiments.chou_dln_robust`` at its ``full`` size:
A (M x N) with A_ij ~ N(0, 1/M), M = 80, N = 200, x* 8-sparse, y = A x* (``make_instance``, seeds
0-4), the diagonal linear network x = u^L - v^L from u(0) = v(0) = alpha 1, the square loss
||A x - y||^2 / 2, depths L = 2, 3, 4 and 12 scales alpha = geomspace(1e-3, 10, 12). The rule is
the experiment's: ``relative_rate_cap(backtracking(constant(1.0), lr_limit=1e30, grow=1.2,
shrink=2.0), 0.05)``, i.e. a step -lr grad L shrunk (all coordinates by one factor) so that no
coordinate moves by more than 5% of itself; a step that does not lower the loss (ties accepted)
is undone and lr halves, otherwise lr *= 1.2. The objective comes from the experiment's own
``setup``. For each depth, in the same process on the CPU:

- ``wnbias``: the 12 alphas x 5 instances as ONE batch of 60 runs, ``run_gd(objective, theta0
  (60 runs), (A, y) stacked per run, rule, batched=True, data_batched=True)``, no target loss;
- ``numpy, vectorized``: the same GD in NumPy on arrays of all 60 runs at once (batched
  ``matmul`` for A x and A^T r, per-run accept/undo by ``np.where``): what a careful researcher
  would write, and the fair reference;
- ``numpy, per run``: the same GD as a Python loop over the 60 runs, one run after another, on
  (N,) vectors: the naive reference (one timed call).

Equal work: every run makes exactly ``--steps`` attempted steps (accepted or undone; an attempt
costs one loss and gradient at the new point on both sides). ``run_gd`` gets ``max_attempts =
max_steps = steps`` and ``patience = steps + 1``, so nothing else stops a run, and the script
checks its attempt counts. Agreement: from the same start, the final losses of the NumPy loops
and of wnbias are compared on every run still above 1e-12 L(0) (below that a run is at the
round-off floor of the loss); the median, the maximum and the count within 1e-10 are printed,
and the script stops above 1e-6. Compilation is
excluded as in the other benchmarks: one untimed warm-up call of each with the same arguments,
then ``--repeats`` rounds of one wnbias and one vectorized NumPy call, alternating, and the best
of each; from a wnbias call's wall time the tracing, lowering and compile time that
``jax.monitoring`` reports is subtracted (``timing.py``). The headline is the whole sweep: NumPy
time summed over the depths over the wnbias time summed likewise.

Run from the repository root::

    .venv/bin/python benchmarks/chou_dln_speed.py              # about 1-2 minutes on 2 cores
    .venv/bin/python benchmarks/chou_dln_speed.py --quick      # a smoke test
    .venv/bin/python benchmarks/chou_dln_speed.py --json results.json

Target (from the project's issue): the full alpha sweep under ``vmap`` at least 20x a NumPy loop
of the same GD, timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import wnbias as wb
from wnbias.experiments import chou_dln_robust as cdr
from wnbias.models.diagonal import alpha_init
from wnbias.reparam import encode, get_reparam

sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing.py, from any cwd
from timing import CompileTimer, environment, timed_call  # noqa: E402

jax.config.update("jax_platforms", "cpu")

DEPTHS = (2, 3, 4)
ALPHAS = tuple(float(a) for a in np.geomspace(1e-3, 10.0, 12))
TARGET = 20.0
AGREEMENT = 1e-6  # largest relative difference of the final loss that counts as agreeing
FLOOR = 1e-12  # runs whose loss fell below FLOOR * L(0) are at round-off, not compared
LR0, LR_LIMIT, GROW, SHRINK = 1.0, 1e30, 1.2, 2.0  # the experiment's backtracking


# --------------------------------------------------------------------------------------------
# NumPy references: the same GD (step, cap, accept/undo, lr update)


def _loss_grad(a, y, u, v, depth):
    """Loss ||A x - y||^2 / 2 and its gradients in u, v, for a batch of runs (leading axis) or
    one run; ``a @ x`` as batched matmul."""
    x = u**depth - v**depth
    r = (a @ x[..., None])[..., 0] - y
    g = (r[..., None, :] @ a)[..., 0, :]  # A^T r
    loss = 0.5 * np.sum(r * r, axis=-1)
    return loss, depth * u ** (depth - 1) * g, -depth * v ** (depth - 1) * g


def numpy_vectorized(a, y, u0, v0, depth, n_steps, cap):
    """``n_steps`` attempted steps of every run at once: a (R, M, N), y (R, M), u0, v0 (R, N).
    Returns the final u, v, loss and accepted-step counts (R,)."""
    u, v = u0.copy(), v0.copy()
    loss, gu, gv = _loss_grad(a, y, u, v, depth)
    lr = np.full(len(u), LR0)
    steps = np.zeros(len(u), int)
    tiny = np.finfo(u.dtype).tiny
    for _ in range(n_steps):
        su, sv = -lr[:, None] * gu, -lr[:, None] * gv
        largest = np.maximum(np.max(np.abs(su) / np.maximum(np.abs(u), tiny), axis=1),
                             np.max(np.abs(sv) / np.maximum(np.abs(v), tiny), axis=1))
        shrink = np.minimum(1.0, cap / largest)[:, None]
        u_new, v_new = u + shrink * su, v + shrink * sv
        loss_new, gu_new, gv_new = _loss_grad(a, y, u_new, v_new, depth)
        ok = (np.isfinite(loss_new) & np.all(np.isfinite(gu_new), axis=1)
              & np.all(np.isfinite(gv_new), axis=1) & (loss_new <= loss))
        k = ok[:, None]
        u, v = np.where(k, u_new, u), np.where(k, v_new, v)
        gu, gv = np.where(k, gu_new, gu), np.where(k, gv_new, gv)
        loss = np.where(ok, loss_new, loss)
        lr = np.where(ok, np.minimum(lr * GROW, LR_LIMIT), lr / SHRINK)
        steps += ok
    return u, v, loss, steps


def numpy_per_run(a, y, u0, v0, depth, n_steps, cap):
    """The same GD as a Python loop over the runs, each on (N,) vectors."""
    us, vs = np.empty_like(u0), np.empty_like(v0)
    losses, counts = np.empty(len(u0)), np.zeros(len(u0), int)
    for j in range(len(u0)):
        aj, yj, u, v = a[j], y[j], u0[j].copy(), v0[j].copy()
        loss, gu, gv = _loss_grad(aj, yj, u, v, depth)
        lr = LR0
        for _ in range(n_steps):
            su, sv = -lr * gu, -lr * gv
            largest = max(np.max(np.abs(su) / np.abs(u)), np.max(np.abs(sv) / np.abs(v)))
            shrink = min(1.0, cap / largest)
            u_new, v_new = u + shrink * su, v + shrink * sv
            loss_new, gu_new, gv_new = _loss_grad(aj, yj, u_new, v_new, depth)
            if (np.isfinite(loss_new) and np.all(np.isfinite(gu_new))
                    and np.all(np.isfinite(gv_new)) and loss_new <= loss):
                u, v, loss, gu, gv = u_new, v_new, loss_new, gu_new, gv_new
                lr = min(lr * GROW, LR_LIMIT)
                counts[j] += 1
            else:
                lr /= SHRINK
        us[j], vs[j], losses[j] = u, v, loss
    return us, vs, losses, counts


def wall(fn, *args) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


# --------------------------------------------------------------------------------------------
# One depth


def batch(instances, n):
    """The 60 runs, instance-major: run j = instance (j // 12), alpha (j % 12). Returns the
    stacked (A, y) and the starts u0 = v0 = alpha 1 as (R, N) arrays."""
    a = np.stack([inst[0] for inst in instances for _ in ALPHAS])
    y = np.stack([inst[1] for inst in instances for _ in ALPHAS])
    start = np.stack([np.full(n, al) for _ in instances for al in ALPHAS])
    return a, y, start


def time_depth(objective, instances, n, depth, n_steps, repeats, cap, naive, timer) -> dict:
    a, y, start = batch(instances, n)
    reparam = get_reparam("plain")
    theta0 = jax.tree.map(lambda *x: jnp.stack(x), *[
        encode(alpha_init(n, al, "pair"), reparam) for _ in instances for al in ALPHAS])
    rule = wb.relative_rate_cap(wb.backtracking(wb.constant(LR0), lr_limit=LR_LIMIT, grow=GROW,
                                                shrink=SHRINK), cap)
    data = (jnp.asarray(a), jnp.asarray(y))
    chunk = min(n_steps, 2000)

    def jax_call():
        return wb.run_gd(objective, theta0, data, rule, max_steps=n_steps,
                         max_attempts=n_steps, patience=n_steps + 1, batched=True,
                         data_batched=True, chunk=chunk)

    _, cold = timed_call(jax_call, timer)  # compiles for this depth
    numpy_vectorized(a, y, start, start, depth, 2, cap)  # warm-up
    jax_samples, numpy_samples = [], []
    for _ in range(repeats):
        jax_run, sample = timed_call(jax_call, timer)
        attempts = jax_run.trajectory.counts["attempts"]
        if not np.all(attempts == n_steps):  # equal work
            raise RuntimeError(f"expected {n_steps} attempts per run, got {attempts}")
        jax_samples.append(sample)
        np_out, seconds = wall(numpy_vectorized, a, y, start, start, depth, n_steps, cap)
        numpy_samples.append(seconds)
    row = {"depth": depth, "runs": len(start), "steps": n_steps,
           "wnbias": {"cold": cold, "samples": jax_samples,
                      "run_s": min(s["run_s"] for s in jax_samples)},
           "numpy": {"samples_s": numpy_samples, "run_s": min(numpy_samples)}}
    loss_jax = np.exp(jax_run.log_loss)
    f0 = 0.5 * np.sum(y * y, axis=1)
    above = loss_jax / f0 > FLOOR  # runs not yet at the round-off floor of the loss
    check = {"n_compared": int(above.sum()), "n_runs": len(above),
             "loss_ratio_min_max": [float((loss_jax / f0).min()),
                                    float((loss_jax / f0).max())],
             "accepted_min_max": [int(jax_run.trajectory.counts["steps"].min()),
                                  int(jax_run.trajectory.counts["steps"].max())]}
    w = jax_run.theta["pairs"]["w"]
    x_jax = w[..., 0] ** depth - w[..., 1] ** depth
    outs = {"vectorized": np_out}
    if naive:
        naive_out, naive_s = wall(numpy_per_run, a, y, start, start, depth, n_steps, cap)
        row["numpy_per_run"] = {"run_s": naive_s}
        outs["per_run"] = naive_out
    for name, (u, v, loss, accepted) in outs.items():
        diff = np.abs(loss - loss_jax) / loss_jax
        x_np = u**depth - v**depth
        check[name] = {
            "loss_max": float(diff[above].max()), "loss_median": float(np.median(diff[above])),
            "within_1e-10": int(np.sum(diff[above] <= 1e-10)),
            "loss_max_all_runs": float(diff.max()),
            "x_max": float(np.max(np.linalg.norm(x_np - x_jax, axis=1)
                                  / np.linalg.norm(x_jax, axis=1))),
            "accepted_differ": int(np.sum(accepted != jax_run.trajectory.counts["steps"]))}
    row["agreement"] = check
    return row


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 steps, 1 repeat: a smoke test")
    parser.add_argument("--steps", type=int, help="attempted GD steps per run (default 2000)")
    parser.add_argument("--repeats", type=int, help="timed rounds per depth (default 3)")
    parser.add_argument("--no-per-run", action="store_true",
                        help="skip the per-run NumPy loop (the slowest part)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    n_steps = args.steps or (200 if args.quick else 2000)
    repeats = args.repeats or (1 if args.quick else 3)
    config = cdr.Config(n_seeds=5, m=80, n=200, s=8, depths=DEPTHS, alphas=ALPHAS)
    cap = config.max_relative_step

    env = environment()
    env["load_average_at_start"] = os.getloadavg()
    print(f"chou-dln-robust plain GD, float64 on {env['jax_backend']} ({env['cpu_count']} cores); "
          f"jax {env['jax']}, numpy {np.__version__}, XLA_FLAGS={env['xla_flags']}; load "
          f"average {env['load_average_at_start'][0]:.2f}")
    print(f"M = {config.m}, N = {config.n}, s = {config.s}, {len(ALPHAS)} alphas x "
          f"{config.n_seeds} instances = {len(ALPHAS) * config.n_seeds} runs per depth, one "
          f"batch; {n_steps} attempted steps per run; best of {repeats} after a warm-up\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = cdr.setup(config)
    instances = problem.extra["instances"]
    timer = CompileTimer()
    rows = []
    for depth in DEPTHS:
        row = time_depth(problem.objectives[f"plain/L{depth}"], instances, config.n, depth,
                         n_steps, repeats, cap, not args.no_per_run, timer)
        rows.append(row)
        jx, npy, c = row["wnbias"]["run_s"], row["numpy"]["run_s"], row["agreement"]
        row["ratio"] = npy / jx
        text = (f"L = {depth}: wnbias {jx:.3f} s, numpy vectorized {npy:.3f} s "
                f"({row['ratio']:.1f}x)")
        if "numpy_per_run" in row:
            naive = row["numpy_per_run"]["run_s"]
            row["ratio_per_run"] = naive / jx
            text += f", numpy per run {naive:.2f} s ({row['ratio_per_run']:.1f}x)"
        print(f"{text} | compile {row['wnbias']['cold']['compile_s']:.1f} s (excluded)")
        ok = True
        for name in ("vectorized", "per_run"):
            if name in c:
                d = c[name]
                ok &= d["loss_max"] <= AGREEMENT
                print(f"    {name:>10}: final loss rel. diff median {d['loss_median']:.1e}, max "
                      f"{d['loss_max']:.1e}, {d['within_1e-10']}/{c['n_compared']} runs within "
                      f"1e-10 (runs above {FLOOR:g} L_0); x = u^L - v^L rel. diff max "
                      f"{d['x_max']:.1e}; accepted counts differ on {d['accepted_differ']} runs")
        print(f"    accepted steps {c['accepted_min_max']}, L_end / L_0 in "
              f"[{c['loss_ratio_min_max'][0]:.1e}, {c['loss_ratio_min_max'][1]:.1e}]: "
              f"{'ok' if ok else 'DISAGREE'}", flush=True)
        if not ok:
            raise RuntimeError(f"wnbias and NumPy disagree at L={depth}: {c}")

    total = {"wnbias_s": sum(r["wnbias"]["run_s"] for r in rows),
             "numpy_s": sum(r["numpy"]["run_s"] for r in rows), "target": TARGET}
    total["ratio"] = total["numpy_s"] / total["wnbias_s"]
    total["met"] = total["ratio"] >= TARGET
    print(f"\nwhole sweep ({len(DEPTHS)} depths x {rows[0]['runs']} runs x {n_steps} attempts): "
          f"wnbias {total['wnbias_s']:.3f} s, numpy vectorized {total['numpy_s']:.3f} s, ratio "
          f"{total['ratio']:.1f}x (target >= {TARGET:g}x: {'met' if total['met'] else 'NOT met'})")
    if not args.no_per_run:
        total["numpy_per_run_s"] = sum(r["numpy_per_run"]["run_s"] for r in rows)
        total["ratio_per_run"] = total["numpy_per_run_s"] / total["wnbias_s"]
        total["met_per_run"] = total["ratio_per_run"] >= TARGET
        print(f"against the per-run loop: {total['numpy_per_run_s']:.2f} s, ratio "
              f"{total['ratio_per_run']:.1f}x (target >= {TARGET:g}x: "
              f"{'met' if total['met_per_run'] else 'NOT met'})")
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")

    numbers = {
        "problem": {"experiment": "chou-dln-robust", "arm": "plain", "m": config.m,
                    "n": config.n, "s": config.s, "n_seeds": config.n_seeds,
                    "alphas": list(ALPHAS), "depths": list(DEPTHS), "max_relative_step": cap,
                    "rule": {"lr0": LR0, "lr_limit": LR_LIMIT, "grow": GROW, "shrink": SHRINK},
                    "dtype": "float64"},
        "environment": env,
        "settings": {"steps": n_steps, "repeats": repeats, "quick": args.quick,
                     "per_run": not args.no_per_run},
        "depths": rows, "load_average_at_end": load, "total": total,
    }
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"numbers written to {args.json}")
    return numbers


if __name__ == "__main__":
    main()
