"""Largest Hessian eigenvalue of a WeightNorm net on MNIST: Lanczos against power iteration and
against ``jax.hessian`` with a dense eigensolver.

The network and loss are the ``cisneros-hessian`` experiment's own (Cisneros-Velarde et al.,
``wnbias.experiments.cisneros_hessian``): a bias-free tanh MLP with ``--depth`` = 4 hidden
layers of width ``--width`` = 1024, a_l = tanh((5/sqrt(m)) Wbar_l a_{l-1}) with every hidden row
divided by its norm (no gain), f = V a_L, the authors' init (hidden U(+-sqrt(5)/sqrt(m)), output
rows of unit norm, key PRNGKey(0)), built by ``ch._network`` and ``ch._init``. The loss is
``objective.loss(theta, x, y)``, the mean squared error over one-hot targets, on ``--n`` = 512
MNIST images (``classification_split("mnist", 512, 0, 0, data_dir)``: a seeded sample of the
t10k files, the authors' preprocessing, 1024 features); without the MNIST files, Gaussian inputs
of the same shape and random labels (the output says so). The Hessian is with respect to
theta = (v_1, ..., v_4, V): P = d_in m + 3 m^2 + 10 m = 4 204 544 parameters at m = 1024. In the
same process on the CPU:

- target, ``wnbias.measure.hessian.spectral_norm(fun, theta, tol)``: ARPACK's implicitly
  restarted Lanczos (``eigsh`` which="LM") on jitted Hessian-vector products, max_j |lambda_j|;
- reference 1, ``wnbias.measure.hessian.power_iteration(fun, theta, key, iters, tol)``: plain
  power iteration on the same HVP (one jitted ``lax.while_loop``), stopping when the Rayleigh
  quotient changes by less than ``tol`` relative, or after ``iters`` HVPs;
- reference 2, ``jax.jit(jax.hessian(loss of the flattened theta))`` then
  ``numpy.linalg.eigvalsh``: only where the P x P matrix fits, P^2 * 8 bytes under
  ``--dense-limit-gb`` = 1.5 GB. At width 1024 it would need P^2 * 8 = 141 TB, so the script
  prints that and measures reference 2 against the target at small widths of the same net
  (``--small-widths`` = 2, 4: P = 2 080 and 4 184; width 8, P = 8 464, fits too but eigvalsh
  alone took ~100 s on the busy 2-core machine), where power iteration runs to convergence as
  well, and prints the values' relative differences from the dense spectrum.

Same accuracy: Lanczos and power iteration get the same ``tol`` (1e-5 in float32, 1e-8 in
float64; ARPACK's is on the Ritz residual, power iteration's on the Rayleigh quotient's change);
both report the residual ||H u - lambda u|| / |lambda| of their final vector (one more HVP,
counted). Compilation is excluded and reported separately: an untimed warm-up per shape (one HVP
through ``hessian_operator`` compiles the program ``spectral_norm`` reuses; power iteration with
``iters=1``; one ``jax.hessian`` call), and from each timed call the tracing and compile time
that ``jax.monitoring`` reports is subtracted (``timing.py``). At width 1024 each solver is
timed once (tens of seconds each); at the small widths the solvers are best of ``--repeats``
and the dense path one call after its warm-up. Ratios are reference time / Lanczos time.

Power iteration at width 1024: the spectrum there is nearly symmetric about 0 (in a probe
outside this script, ``eigsh`` k=4 gave lambda = -0.024617, -0.024404, 0.024432, 0.024646), so
|lambda_2 / lambda_1| = 0.9988 and power iteration converges like 0.9988^t: about 10^4 HVPs to
1e-5, tens of minutes here (a 2000-HVP run, ten minutes on the busy 2-core machine, had not
converged: residual 0.2). The default run therefore caps it at ``--power-iters`` = 300 HVPs
and prints the ratio as a lower bound (the capped time over the Lanczos time) together with the
HVP counts and how many power HVPs the Lanczos time would buy (a power HVP inside its jitted
loop costs less than one of ARPACK's, which crosses to the host in float64; both are printed);
raise ``--power-iters`` for a longer try.

Run from the repository root::

    .venv/bin/python benchmarks/hessian_speed.py              # about 2-3 minutes on 2 cores
    .venv/bin/python benchmarks/hessian_speed.py --quick      # width 256, a smoke test
    .venv/bin/python benchmarks/hessian_speed.py --dtype float64 --json results.json

Target (from the project's issue): the largest Hessian eigenvalue of a width-1024, depth-4 net
on 512 MNIST images, timed against ``jax.hessian`` plus a dense eigensolver where that fits in
memory and against plain power iteration on the same HVP, with both ratios printed (the issue
sets no threshold).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import wnbias
from wnbias.data.real import classification_split, one_hot
from wnbias.errors import UserError
from wnbias.experiments import cisneros_hessian as ch
from wnbias.measure import hessian as hs

sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing.py, from any cwd
from timing import CompileTimer, environment, timed_call  # noqa: E402

jax.config.update("jax_platforms", "cpu")

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "mnist"
N_CLASSES = 10
BYTES = 8  # the dense-fit rule counts float64 entries, P^2 * 8 bytes


# --------------------------------------------------------------------------------------------
# The problem


def load_data(n: int, data_dir: Path, dtype) -> tuple[jax.Array, jax.Array, str]:
    """(x (n, 1024), one-hot y (n, 10), a sentence on where they came from)."""
    try:
        split = classification_split("mnist", n, 0, 0, str(data_dir))
        x, labels, source = split.x_train, split.y_train, split.source
    except UserError as e:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 1024)).astype(np.float32)
        labels = rng.integers(0, N_CLASSES, n)
        source = (f"NO MNIST ({e}): Gaussian inputs N(0, 1) of shape ({n}, 1024) and uniform "
                  "random labels instead")
    return (jnp.asarray(x, dtype), jnp.asarray(one_hot(labels, N_CLASSES), dtype), source)


def make_problem(config, width: int, depth: int, x, y, dtype):
    """The loss theta -> L(theta; x, y) (one function object per shape, so the jitted HVPs
    compile once) and the authors' init theta."""
    objective, hidden = ch._network(config, width, depth, x.shape[1], y.shape[1])
    theta = ch._init(objective, hidden, jax.random.PRNGKey(0), np.sqrt(config.sigma2), dtype)

    def fun(th):
        return objective.loss(th, x, y)

    return fun, theta


def n_params(theta) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(theta)))


def dense_bytes(p: int) -> float:
    return float(p) ** 2 * BYTES


def human_bytes(b: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b / 1e3:.3g} kB"


# --------------------------------------------------------------------------------------------
# The three solvers


def time_lanczos(fun, theta, tol: float, repeats: int, timer: CompileTimer) -> dict:
    """Warm-up (one HVP: compiles the program spectral_norm reuses), then ``repeats`` calls."""
    op = hs.hessian_operator(fun, theta)
    u = np.random.default_rng(1).standard_normal(op.shape[0])
    _, warm = timed_call(lambda: op.hvp(u), timer)
    samples, eig = [], None
    for _ in range(repeats):
        eig, sample = timed_call(lambda: hs.spectral_norm(fun, theta, tol=tol), timer)
        samples.append(sample)
    return {"value": eig.value, "residual": eig.residual, "converged": eig.converged,
            "matvecs": eig.matvecs, "compile_s": warm["compile_s"], "warmup": warm,
            "samples": samples, "run_s": min(s["run_s"] for s in samples)}


def time_power(fun, theta, tol: float, iters: int, repeats: int, timer: CompileTimer) -> dict:
    """Warm-up with iters=1 (iters and tol are traced: the same program), then ``repeats``."""
    key = jax.random.PRNGKey(1)
    _, warm = timed_call(lambda: hs.power_iteration(fun, theta, key=key, iters=1, tol=tol),
                         timer)
    samples, eig = [], None
    for _ in range(repeats):
        eig, sample = timed_call(
            lambda: hs.power_iteration(fun, theta, key=key, iters=iters, tol=tol), timer)
        samples.append(sample)
    return {"value": eig.value, "residual": eig.residual, "converged": eig.converged,
            "matvecs": eig.matvecs, "iters_cap": iters, "compile_s": warm["compile_s"],
            "warmup": warm, "samples": samples, "run_s": min(s["run_s"] for s in samples)}


def time_dense(fun, theta, timer: CompileTimer) -> dict:
    """jax.hessian of the flattened loss (jitted; one warm-up call), then numpy's eigvalsh."""
    flat, unravel = ravel_pytree(theta)
    hessian = jax.jit(jax.hessian(lambda f: fun(unravel(f))))
    _, warm = timed_call(lambda: hessian(flat).block_until_ready(), timer)
    parts = {}

    def call():
        start = time.perf_counter()
        h = np.asarray(hessian(flat))
        parts["hessian_s"] = time.perf_counter() - start
        start = time.perf_counter()
        values = np.linalg.eigvalsh(h)
        parts["eigvalsh_s"] = time.perf_counter() - start
        return values

    values, sample = timed_call(call, timer)
    return {"value": float(np.max(np.abs(values))), "lambda_max": float(values[-1]),
            "lambda_min": float(values[0]), "compile_s": warm["compile_s"], "warmup": warm,
            "sample": sample, "run_s": sample["run_s"], **parts}


def rel(a: float | None, b: float) -> float | None:
    return None if a is None else abs(a - b) / abs(b)


def fmt_rel(r: float | None) -> str:
    return "   n/a " if r is None else f"{r:7.1e}"


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="width 256, small width 2, 20 power steps: a smoke test")
    parser.add_argument("--width", type=int, help="hidden width of the target (default 1024)")
    parser.add_argument("--depth", type=int, default=4, help="hidden layers (default 4)")
    parser.add_argument("--n", type=int, default=512, help="images in the loss (default 512)")
    parser.add_argument("--small-widths", type=lambda s: tuple(int(w) for w in s.split(",")),
                        help="comma-separated widths for the dense comparison (default 2,4)")
    parser.add_argument("--dense-limit-gb", type=float, default=1.5,
                        help="largest P^2 * 8 bytes the dense path may take (default 1.5)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--tol", type=float,
                        help="tolerance of both iterative solvers (default 1e-5 in float32, "
                             "1e-8 in float64)")
    parser.add_argument("--power-iters", type=int,
                        help="HVP cap of power iteration at the target width (default 300)")
    parser.add_argument("--small-power-iters", type=int, default=20_000,
                        help="HVP cap of power iteration at the small widths (default 20000)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls of the iterative solvers at the small widths")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR,
                        help=f"MNIST IDX files (default {DATA_DIR})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    width = args.width or (256 if args.quick else 1024)
    small = args.small_widths or ((2,) if args.quick else (2, 4))
    power_iters = args.power_iters or (20 if args.quick else 300)
    tol = args.tol or (1e-5 if args.dtype == "float32" else 1e-8)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    dtype = jnp.dtype(args.dtype)
    config = wnbias.config.resolve(ch.Config, {"dtype": args.dtype})
    limit = args.dense_limit_gb * 1e9

    env = environment()
    env["load_average_at_start"] = os.getloadavg()
    print(f"cisneros-hessian loss Hessian, {args.dtype} on {env['jax_backend']} "
          f"({env['cpu_count']} CPU cores); jax {env['jax']}, numpy {np.__version__}, "
          f"XLA_FLAGS={env['xla_flags']}; load average {env['load_average_at_start'][0]:.2f}")
    x, y, source = load_data(args.n, args.data_dir, dtype)
    print(f"data: {source}")
    print(f"net: depth {args.depth} hidden tanh layers, rows normalized, c = {config.c:g}, "
          f"sigma^2 = {config.sigma2:g}; loss = MSE over one-hot targets on {args.n} images; "
          f"tol = {tol:g} for Lanczos and power iteration\n")
    timer = CompileTimer()

    # ---- small widths: dense vs Lanczos vs power, all to convergence
    rows = []
    print(f"{'width':>5} {'P':>7} {'P^2*8':>8} | {'dense s':>7} {'(hess+eig)':>12} | "
          f"{'Lanczos s':>9} {'HVPs':>4} | {'power s':>7} {'HVPs':>5} | {'dense/L':>7} "
          f"{'power/L':>7} | {'rel diff L, power vs dense':>26}")
    for w in small:
        fun, theta = make_problem(config, w, args.depth, x, y, dtype)
        p = n_params(theta)
        row = {"width": w, "P": p, "dense_bytes": dense_bytes(p)}
        if dense_bytes(p) > limit:
            print(f"{w:>5} {p:>7} {human_bytes(dense_bytes(p)):>8} | dense does not fit "
                  f"(limit {human_bytes(limit)}): skipped")
            row["dense"] = None
            rows.append(row)
            continue
        row["dense"] = dense = time_dense(fun, theta, timer)
        row["lanczos"] = lz = time_lanczos(fun, theta, tol, args.repeats, timer)
        row["power"] = pw = time_power(fun, theta, tol, args.small_power_iters, args.repeats,
                                       timer)
        row["ratio_dense"] = dense["run_s"] / lz["run_s"]
        row["ratio_power"] = pw["run_s"] / lz["run_s"]
        row["rel_diff_lanczos"] = rel(lz["value"], dense["value"])
        row["rel_diff_power"] = rel(pw["value"], dense["value"])
        rows.append(row)
        power_hvps = f"{pw['matvecs']:>5}" if pw["converged"] else f">{pw['matvecs'] - 1:>4}"
        print(f"{w:>5} {p:>7} {human_bytes(dense_bytes(p)):>8} | {dense['run_s']:7.2f} "
              f"({dense['hessian_s']:4.2f}+{dense['eigvalsh_s']:5.2f}) | {lz['run_s']:9.3f} "
              f"{lz['matvecs']:>4} | {pw['run_s']:7.3f} {power_hvps} | "
              f"{row['ratio_dense']:6.0f}x {row['ratio_power']:6.2f}x | "
              f"{fmt_rel(row['rel_diff_lanczos'])}, {fmt_rel(row['rel_diff_power'])} "
              f"(|lambda|max {dense['value']:.5g})", flush=True)
        print(f"      compile (excluded): jax.hessian {dense['compile_s']:.1f} s, HVP "
              f"{lz['compile_s']:.1f} s, power {pw['compile_s']:.1f} s; lambda_min "
              f"{dense['lambda_min']:.5g}, lambda_max {dense['lambda_max']:.5g}")

    # ---- the target width
    fun, theta = make_problem(config, width, args.depth, x, y, dtype)
    p = n_params(theta)
    need = dense_bytes(p)
    print(f"\nwidth {width}, depth {args.depth}: P = {p:,} parameters; a dense Hessian needs "
          f"P^2 * 8 bytes = {human_bytes(need)} "
          f"({'fits' if need <= limit else 'does not fit'} in the {human_bytes(limit)} limit)")
    lz = time_lanczos(fun, theta, tol, 1, timer)
    print(f"  Lanczos (spectral_norm): {lz['run_s']:.2f} s, {lz['matvecs']} HVPs "
          f"({lz['run_s'] / lz['matvecs']:.3f} s each), |lambda|max = {lz['value']:.6g}, residual "
          f"{lz['residual']:.1e}, converged {lz['converged']}; compile {lz['compile_s']:.1f} s "
          f"(excluded)", flush=True)
    pw = time_power(fun, theta, tol, power_iters, 1, timer)
    value = "n/a (not converged)" if pw["value"] is None else f"{pw['value']:.6g}"
    print(f"  power iteration: {pw['run_s']:.2f} s, {pw['matvecs']} HVPs "
          f"({pw['run_s'] / pw['matvecs']:.3f} s each, cap {power_iters}), value {value}, "
          f"residual {pw['residual']:.1e}, converged {pw['converged']}; compile "
          f"{pw['compile_s']:.1f} s (excluded)", flush=True)
    target = {"width": width, "depth": args.depth, "P": p, "dense_bytes": need,
              "dense_fits": need <= limit, "lanczos": lz, "power": pw,
              "ratio_power": pw["run_s"] / lz["run_s"],
              "ratio_power_is_lower_bound": not pw["converged"],
              "rel_diff_power": (rel(pw["value"], lz["value"])
                                 if lz["value"] is not None else None)}
    dense_rows = [r for r in rows if r.get("dense")]
    if dense_rows:  # eigvalsh is O(P^3): a rough extrapolation from the largest one measured
        big = max(dense_rows, key=lambda r: r["P"])
        target["eigvalsh_extrapolated_s"] = big["dense"]["eigvalsh_s"] * (p / big["P"]) ** 3

    # ---- the two ratios
    bound = ">=" if target["ratio_power_is_lower_bound"] else "="
    per_hvp = pw["run_s"] / pw["matvecs"]
    target["power_hvps_in_lanczos_time"] = lz["run_s"] / per_hvp
    note = (f"a lower bound: power iteration had not converged after {pw['matvecs']} HVPs, "
            f"the cap, against Lanczos' {lz['matvecs']}; Lanczos' time buys "
            f"{target['power_hvps_in_lanczos_time']:.0f} power HVPs"
            if target["ratio_power_is_lower_bound"] else
            f"{pw['matvecs']} HVPs against {lz['matvecs']}; values differ by "
            f"{fmt_rel(target['rel_diff_power']).strip()}")
    print(f"\nratio 1, power iteration / Lanczos at width {width}: {bound} "
          f"{target['ratio_power']:.2f}x ({note})")
    if dense_rows:
        at = ", ".join(f"{r['ratio_dense']:.0f}x at width {r['width']} (P = {r['P']:,})"
                       for r in dense_rows)
        extra = f"; eigvalsh alone, extrapolated as P^3 from width {big['width']}: " \
                f"~{target['eigvalsh_extrapolated_s'] / 3.15e7:.2g} years"
    else:
        at, extra = "no small width fitted", ""
    if target["dense_fits"]:
        print(f"ratio 2, jax.hessian + eigvalsh / Lanczos: dense at width {width} was not run "
              f"(only the small widths are); {at}")
    else:
        print(f"ratio 2, jax.hessian + eigvalsh / Lanczos: does not fit at width {width} "
              f"(P = {p:,}, P^2 * 8 bytes = {human_bytes(need)}{extra}); {at}")
    if dense_rows:
        worst = max(r["rel_diff_lanczos"] for r in dense_rows)
        print(f"agreement: Lanczos vs dense |lambda|max within {worst:.1e} relative at the "
              "small widths")
    load = os.getloadavg()
    print(f"load average at the end {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")

    numbers = {
        "problem": {"experiment": "cisneros-hessian", "n": args.n, "depth": args.depth,
                    "width": width, "dtype": args.dtype, "tol": tol, "data": source},
        "environment": env,
        "settings": {"small_widths": list(small), "power_iters": power_iters,
                     "small_power_iters": args.small_power_iters, "repeats": args.repeats,
                     "dense_limit_gb": args.dense_limit_gb, "quick": args.quick},
        "small": rows, "target": target, "load_average_at_end": load,
    }
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2, default=float) + "\n")
        print(f"numbers written to {args.json}")
    return numbers


if __name__ == "__main__":
    main()
