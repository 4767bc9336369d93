"""GD throughput on the EWN XOR problem: wnbias (JAX) against a PyTorch eager loop.

The problem is the EWN paper's XOR experiment (PAPERS.md E1.3) in float64: four points, a
bias-free 2-layer ReLU net with 20 hidden neurons whose output weights are fixed to +1 (neurons
0-9) and -1 (10-19), only the first layer trained under EWN (w_u = exp(a_u) v_u/||v_u||),
logistic loss summed over the points, and the authors' schedule: a step on log L with multiplier
c = lr L^(1/5), lr from 0.01, a step that raises the loss undone with lr /= 1.1, otherwise
lr = min(1.1 lr, 0.1).

Three figures, all measured in the same process on the CPU:

- ``wnbias, one run``: attempted GD steps per second of ``wnbias.run_gd`` on one seed;
- ``wnbias, 64 seeds``: seed-steps per second (64 x steps / time) of the same call with the 64
  seeds batched under ``vmap``;
- ``torch eager``: steps per second of a plain PyTorch loop written the way the authors wrote
  theirs (float64, one thread; per step: forward, backward, parameter update, recompute the
  loss, undo the step if the loss rose). Skipped, with a note, when torch is not installed.

One attempted step is one step tried (one gradient evaluation), accepted or not. Every timed run
does a fixed number of attempts (``max_attempts``, no target loss), so all do the same work.
``run_gd`` compiles once per model, rule and shape (about 2 s here, far more than the run
itself) and reuses the code afterwards; any time spent tracing, lowering and compiling, as
reported by ``jax.monitoring``, is subtracted from each call's wall time; each timed call follows an
untimed warm-up call with the same arguments, and the best of ``--repeats`` timed calls is
reported (the torch loop is timed the same way). As a check of "same math", the torch loop
and wnbias are also run from the same initial weights for the same number of steps and their
final log-losses compared.

Run from the repository root::

    .venv/bin/python benchmarks/xor_speed.py              # full run, about a minute
    .venv/bin/python benchmarks/xor_speed.py --quick      # fewer steps, a smoke test
    .venv/bin/python benchmarks/xor_speed.py --json results.json

Targets (from the project's issue): one run at least 50x the torch loop; 64 seeds at least 10x
the seed-steps per second of one run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import wnbias as wb

sys.path.insert(0, str(Path(__file__).resolve().parent))  # timing.py, from any cwd
from timing import CompileTimer, environment, timed_call  # noqa: E402

jax.config.update("jax_platforms", "cpu")

WIDTH = 20
LR, FRAC, LR_LIMIT, GROW, SHRINK = 0.01, 5.0, 0.1, 1.1, 1.1
SEED = 0
TARGET_VS_TORCH = 50.0
TARGET_BATCHED = 10.0


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], dtype=np.float64)
    y = np.array([-1, -1, 1, 1], dtype=np.float64)
    return x, y


def output_weights() -> np.ndarray:
    half = WIDTH // 2
    return np.concatenate([np.ones(half), -np.ones(WIDTH - half)])


# --------------------------------------------------------------------------------------------
# wnbias


def wnbias_setup(n_seeds: int):
    """The log-loss, the rule, the data and the EWN parameters of ``n_seeds`` seeds."""
    x, y = xor_data()
    model = wb.mlp((2, WIDTH, 1), "relu", frozen={2: output_weights()[None, :]})
    reparam = wb.get_reparam("ewn")
    log_loss = wb.make_log_loss(model, reparam, wb.get_loss("logistic"))
    rule = wb.backtracking(wb.loss_adaptive(LR, FRAC), lr_limit=LR_LIMIT, grow=GROW,
                           shrink=SHRINK)
    keys = jax.random.split(jax.random.PRNGKey(SEED), n_seeds)
    thetas = jax.vmap(lambda k: wb.encode(model.init(k), reparam))(keys)
    return log_loss, rule, (jnp.asarray(x), jnp.asarray(y)), thetas


def run_wnbias(log_loss, rule, data, theta, n_steps: int, chunk: int, batched: bool):
    """``n_steps`` attempted steps, no early stop."""
    return wb.run_gd(log_loss, theta, data, rule, max_steps=n_steps, max_attempts=n_steps,
                     target_log_loss=-np.inf, batched=batched, chunk=chunk)


def time_wnbias(setup, theta, n_steps: int, chunk: int, batched: bool, repeats: int,
                compile_timer: CompileTimer) -> dict:
    log_loss, rule, data, _ = setup
    n_seeds = jax.tree.leaves(theta)[0].shape[0] if batched else 1
    run_wnbias(log_loss, rule, data, theta, n_steps, chunk, batched)  # warm-up
    samples = []
    for _ in range(repeats):
        result, sample = timed_call(
            lambda: run_wnbias(log_loss, rule, data, theta, n_steps, chunk, batched),
            compile_timer)
        attempts = result.trajectory.counts["attempts"]
        if not np.all(attempts == n_steps):
            raise RuntimeError(f"expected {n_steps} attempts per seed, got {attempts}")
        samples.append({k: sample[k] for k in ("wall_s", "compile_s", "run_s")})
    best = min(samples, key=lambda s: s["run_s"])
    return {
        "n_seeds": n_seeds, "n_steps": n_steps, "chunk": chunk, "samples": samples,
        "run_s": best["run_s"], "compile_s": statistics.median(s["compile_s"] for s in samples),
        "seed_steps_per_s": n_seeds * n_steps / best["run_s"],
        "seed_steps_per_s_with_compile": n_seeds * n_steps / min(s["wall_s"] for s in samples),
    }


# --------------------------------------------------------------------------------------------
# PyTorch eager reference, written like the authors' XOR.py


def make_torch_loop(theta0: dict[str, np.ndarray]) -> Callable[[int], float]:
    """A function ``train(n_steps) -> final log L`` that restarts from ``theta0`` every call."""
    import torch

    torch.set_num_threads(1)
    x_np, y_np = xor_data()
    x = torch.tensor(x_np, dtype=torch.float64)
    y = torch.tensor(y_np, dtype=torch.float64)
    out = torch.tensor(output_weights(), dtype=torch.float64)

    def train(n_steps: int) -> float:
        a = torch.tensor(theta0["a"], dtype=torch.float64, requires_grad=True)
        v = torch.tensor(theta0["v"], dtype=torch.float64, requires_grad=True)

        def normalized_loss(last_log_loss: float) -> torch.Tensor:
            # L / L_prev, as the authors track the loss in the log domain.
            w = torch.exp(a)[:, None] * v / v.norm(dim=1, keepdim=True)
            margins = y * (torch.relu(x @ w.T) @ out)
            if margins.min() > 30:  # the authors' switch to the exponential tail
                return torch.exp(-margins - last_log_loss).sum()
            return (torch.log1p(torch.exp(-margins)) / math.exp(last_log_loss)).sum()

        lr = LR
        with torch.no_grad():
            last_log_loss = math.log(normalized_loss(0.0).item())
        for _ in range(n_steps):
            loss = normalized_loss(last_log_loss)
            a.grad = v.grad = None
            loss.backward()
            c = lr * math.exp(last_log_loss / FRAC)
            with torch.no_grad():
                a -= c * a.grad
                v -= c * v.grad
                new = normalized_loss(last_log_loss).item()
                if new > 1 or new == 0 or not math.isfinite(new):  # loss rose: undo
                    a += c * a.grad
                    v += c * v.grad
                    lr /= SHRINK
                else:
                    last_log_loss += math.log(new)
                    lr = min(lr * GROW, LR_LIMIT)
        return last_log_loss

    return train


def time_torch(train: Callable[[int], float], n_steps: int, repeats: int) -> dict:
    train(max(n_steps // 10, 10))  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        train(n_steps)
        samples.append(time.perf_counter() - start)
    return {"n_steps": n_steps, "samples_s": samples, "run_s": min(samples),
            "steps_per_s": n_steps / min(samples)}


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer steps and repeats (a smoke test, noisier figures)")
    parser.add_argument("--steps", type=int, help="wnbias attempted steps per timed run")
    parser.add_argument("--torch-steps", type=int, help="steps of the timed torch loop")
    parser.add_argument("--seeds", type=int, default=64, help="seeds batched under vmap")
    parser.add_argument("--chunk", type=int, default=5000,
                        help="run_gd chunk (scan length); must divide --steps")
    parser.add_argument("--repeats", type=int, help="timed calls per figure (best is kept)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    n_steps = args.steps or (10_000 if args.quick else 50_000)
    torch_steps = args.torch_steps or (500 if args.quick else 2_000)
    repeats = args.repeats or (1 if args.quick else 3)
    chunk = min(args.chunk, n_steps)
    if n_steps % chunk:
        parser.error(f"--chunk {chunk} must divide --steps {n_steps}")

    env = environment()
    print(f"XOR, EWN, float64 on {env['jax_backend']} ({env['cpu_count']} cores); jax "
          f"{env['jax']}, torch {env['torch'] or 'not installed'}")
    print(f"wnbias: {n_steps} attempted steps per run, chunk {chunk}; torch: {torch_steps} "
          f"steps; best of {repeats} after a warm-up\n")

    compile_timer = CompileTimer()
    setup = wnbias_setup(args.seeds)
    thetas = setup[3]
    theta_one = jax.tree.map(lambda a: a[0], thetas)
    one = time_wnbias(setup, theta_one, n_steps, chunk, False, repeats, compile_timer)
    batched = time_wnbias(setup, thetas, n_steps, chunk, True, repeats, compile_timer)
    batched_ratio = batched["seed_steps_per_s"] / one["seed_steps_per_s"]

    torch_result, torch_ratio, agreement = None, None, None
    if env["torch"] is None:
        print("note: torch is not installed, so the PyTorch eager reference is skipped "
              "(.venv/bin/pip install torch==2.13.0 to include it)\n")
    else:
        theta0 = {k: np.asarray(v) for k, v in theta_one["layer1"].items()}
        train = make_torch_loop(theta0)
        torch_result = time_torch(train, torch_steps, repeats)
        torch_ratio = one["seed_steps_per_s"] / torch_result["steps_per_s"]
        log_loss, rule, data, _ = setup
        jax_final = float(run_wnbias(log_loss, rule, data, theta_one, torch_steps,
                                     min(chunk, torch_steps), False).log_loss[0])
        torch_final = train(torch_steps)
        agreement = {"steps": torch_steps, "wnbias_log_loss": jax_final,
                     "torch_log_loss": torch_final, "abs_diff": abs(jax_final - torch_final)}

    def met(ratio: float | None, target: float) -> str:
        return "skipped" if ratio is None else ("met" if ratio >= target else "NOT met")

    rows = [
        ("wnbias, one run", f"{one['seed_steps_per_s']:,.0f} steps/s",
         f"compile {one['compile_s']:.1f} s per call, excluded"),
        (f"wnbias, {args.seeds} seeds (vmap)", f"{batched['seed_steps_per_s']:,.0f} seed-steps/s",
         f"compile {batched['compile_s']:.1f} s per call, excluded"),
        ("torch eager, one run",
         "skipped" if torch_result is None else f"{torch_result['steps_per_s']:,.0f} steps/s",
         "" if torch_result is None else "1 thread"),
        ("one run / torch eager", "-" if torch_ratio is None else f"{torch_ratio:,.1f}x",
         f"target >= {TARGET_VS_TORCH:g}x: {met(torch_ratio, TARGET_VS_TORCH)}"),
        (f"{args.seeds} seeds / one run", f"{batched_ratio:,.1f}x",
         f"target >= {TARGET_BATCHED:g}x: {met(batched_ratio, TARGET_BATCHED)}"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, value, note in rows:
        print(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {note}")
    if agreement is not None:
        print(f"\nsame math: after {agreement['steps']} steps from the same weights, log L = "
              f"{agreement['wnbias_log_loss']:.10g} (wnbias) vs {agreement['torch_log_loss']:.10g}"
              f" (torch), |diff| {agreement['abs_diff']:.1e}")

    numbers = {
        "problem": {"data": "xor", "width": WIDTH, "reparam": "ewn", "loss": "logistic",
                    "dtype": "float64", "lr": LR, "frac": FRAC, "lr_limit": LR_LIMIT},
        "environment": env,
        "settings": {"steps": n_steps, "torch_steps": torch_steps, "seeds": args.seeds,
                     "chunk": chunk, "repeats": repeats, "quick": args.quick},
        "wnbias_one_run": one,
        "wnbias_batched": batched,
        "torch_eager": torch_result,
        "ratio_one_run_vs_torch": torch_ratio,
        "ratio_batched_vs_one_run": batched_ratio,
        "targets": {
            "one_run_vs_torch": {"target": TARGET_VS_TORCH,
                                 "met": None if torch_ratio is None
                                 else torch_ratio >= TARGET_VS_TORCH},
            "batched_vs_one_run": {"target": TARGET_BATCHED,
                                   "met": batched_ratio >= TARGET_BATCHED},
        },
        "agreement": agreement,
    }
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
        print(f"\nnumbers written to {args.json}")
    return numbers


if __name__ == "__main__":
    main()
