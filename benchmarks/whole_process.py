"""Whole-process time of the command line: what a user waits for, compilation included.

Issue 19's targets, measured on this machine in one run of this script:

- ``wnbias reproduce`` of the five EWN experiments (Morwani & Ramaswamy, ALT 2022), whole
  process, **cold** (a fresh, empty compilation cache: a first run after install) and **warm**
  (the cache the cold run filled, fresh run directories: nothing reused but compiled programs),
  against the authors' own scripts on the same five experiments, about ``AUTHORS_EWN_SECONDS``
  on 2 cores (measured when the issue was filed; their PyTorch scripts cannot run here, see
  benchmarks/README.md). Targets: cold <= 40 s (>= 30x), warm <= 15 s (>= 80x). It is timed
  as a user runs it (``--jobs`` by default: one worker process per core), with its wall time
  only, and in one process (``--jobs 1``) with its phases.
- each experiment's ``wnbias run`` (its default config, or ``--preset``) cold and warm, with
  the number of XLA compilations, persistent-cache hits, and the phases: ``import`` (Python,
  JAX and the library), ``compile`` (JAX's tracing, lowering and backend compilation, from
  ``jax.monitoring``), ``compute`` (the experiment's set-up and run, less its compilation),
  ``report`` (claims, figures and report, less compilation) and the rest (the store, interpreter
  start and exit).
- a config error (``wnbias run ewn-xor --set no_such_key=1``): target < 1 s.

Each measurement is a fresh ``python -m wnbias.cli`` process (this file re-run as a probe that
wraps the CLI's ``main``), so nothing is shared between measurements but the cache directory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EWN = ("ewn-simple-traj", "ewn-xor", "ewn-lin-sep", "ewn-conv-rate", "ewn-equivalence")
AUTHORS_EWN_SECONDS = 1220.0  # the authors' five EWN scripts on 2 cores (issue 19)
TARGET_COLD_S, TARGET_WARM_S, TARGET_SMOKE_S, TARGET_ERROR_S = 40.0, 15.0, 5.0, 1.0


# ------------------------------------------------------------------------- the probe (child)


def probe(argv: list[str], out: str) -> int:
    """Run ``wnbias`` with ``argv`` in this process and write its phases to ``out``."""
    start = time.perf_counter()
    import jax

    import wnbias.cli
    import wnbias.runner
    from wnbias.experiments import EXPERIMENTS, Experiment

    for name in argv:  # the experiments' own modules (diffrax, scipy) count as import too
        if name in EXPERIMENTS:
            importlib.import_module(EXPERIMENTS[name].module)
    imported = time.perf_counter()
    events: list[tuple[str, float, float]] = []  # (event, end, duration)
    counts = {"compilations": 0, "cache_hits": 0, "traces": 0}

    def on_duration(event: str, duration: float, **_) -> None:
        events.append((event, time.perf_counter(), duration))
        if event == "/jax/core/compile/backend_compile_duration":
            counts["compilations"] += 1
        elif event == "/jax/core/compile/jaxpr_trace_duration":
            counts["traces"] += 1

    def on_event(event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            counts["cache_hits"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(on_event)
    spans: dict[str, list[tuple[float, float]]] = {"compute": [], "report": []}

    def spanned(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spans[name].append((t, time.perf_counter()))
        return wrapper

    Experiment.execute = spanned("compute", Experiment.execute)
    wnbias.runner._judge_and_draw = spanned("report", wnbias.runner._judge_and_draw)
    status = wnbias.cli.main(argv)
    end = time.perf_counter()

    compile_events = ("/jax/core/compile/jaxpr_trace_duration",
                      "/jax/core/compile/jaxpr_to_mlir_module_duration",
                      "/jax/core/compile/backend_compile_duration")
    intervals = [(e - d, e) for name, e, d in events if name in compile_events]

    def compiled_within(lo: float, hi: float) -> float:
        return _union([(max(a, lo), min(b, hi)) for a, b in intervals if b > lo and a < hi])

    phases = {"import": imported - start, "compile": _union(intervals)}
    for name, ranges in spans.items():
        phases[name] = sum(b - a - compiled_within(a, b) for a, b in ranges)
    phases["other"] = end - start - sum(phases.values())
    Path(out).write_text(json.dumps({"status": status, "phases": phases, **counts}))
    return status


def _union(intervals) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > a:
            total += max(b - max(a, reach), 0.0)
            reach = max(reach, b)
    return total


# ------------------------------------------------------------------------------ the parent


def measure(argv: list[str], cache: Path, scratch: Path, probe: bool = True,
            expect: int = 0) -> dict:
    """One fresh process of ``wnbias argv`` with ``cache`` as its compilation cache, which must
    exit with ``expect``; without ``probe``, the plain CLI (the probe imports JAX up front,
    which a config error must not)."""
    record = Path(tempfile.mkstemp(dir=scratch, suffix=".json")[1])
    env = {**os.environ, "WNBIAS_CACHE_DIR": str(cache)}
    command = ([__file__, "--probe", str(record), "--"] if probe else ["-m", "wnbias.cli"])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command, *argv],
                          env=env, cwd=scratch, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != expect:  # e.g. a misspelt experiment: no time to report
        sys.exit(f"wnbias {' '.join(argv)} exited with {done.returncode}, not {expect}:\n"
                 f"{done.stderr[-2000:]}")
    data = json.loads(record.read_text()) if record.stat().st_size else {}
    return {"argv": argv, "wall_s": wall, "exit": done.returncode, **data}


def _row(label: str, m: dict) -> str:
    p = m.get("phases")  # none for a plain CLI process (or the parent of worker processes)
    return (f"| {label} | {m['wall_s']:.1f} | {m.get('compilations', '-')} | "
            f"{m.get('cache_hits', '-')} | " + " | ".join(
                f"{p[k]:.1f}" if p else "-"
                for k in ("import", "compile", "compute", "report", "other")) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="*", default=list(EWN),
                        help="experiments to time one by one (default: the five EWN ones)")
    parser.add_argument("--preset", default=None, help="run each with this preset (e.g. smoke)")
    parser.add_argument("--no-reproduce", action="store_true",
                        help="skip the cold/warm `reproduce` of the five EWN experiments")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()

    results: dict = {"authors_ewn_s": AUTHORS_EWN_SECONDS, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="wnbias-whole-") as tmp:
        scratch = Path(tmp)
        print("| process | wall s | compilations | cache hits | import | compile | compute | "
              "report | other |")
        print("|---|---|---|---|---|---|---|---|---|")
        error = measure(["run", "ewn-xor", "--set", "no_such_key=1"], scratch / "c0", scratch,
                        probe=False, expect=2)
        results["config_error"] = error
        print(_row("config error (ewn-xor, unknown key)", error))
        if not args.no_reproduce:
            # as a user runs it (side by side, one process per core), then in one process
            for jobs in (None, "1"):
                cache = scratch / f"cache-reproduce-{jobs or 'default'}"
                how = "--jobs 1" if jobs else "default --jobs"
                for kind in ("cold", "warm"):
                    # the workers' phases are theirs, not the probe's: wall time only
                    m = measure(["reproduce", *EWN, "--quiet", "--out", f"repro-{jobs}-{kind}",
                                 *(["--jobs", jobs] if jobs else [])], cache, scratch,
                                probe=bool(jobs))
                    results[f"reproduce_{kind}" + ("_one_process" if jobs else "")] = m
                    print(_row(f"reproduce of the 5 EWN experiments, {how}, {kind}", m))
        preset = ["--preset", args.preset] if args.preset else []
        for name in args.experiments:
            cache = scratch / f"cache-{name}"
            for kind in ("cold", "warm"):
                m = measure(["run", name, *preset, "--quiet", "--out", f"{name}-{kind}"],
                            cache, scratch)
                results["runs"].setdefault(name, {})[kind] = m
                print(_row(f"{name}{' --preset ' + args.preset if args.preset else ''}, {kind}",
                           m))
    print()
    print(f"config error: {error['wall_s']:.2f} s (target < {TARGET_ERROR_S:g} s)")
    if not args.no_reproduce:
        for kind, target in (("cold", TARGET_COLD_S), ("warm", TARGET_WARM_S)):
            wall = results[f"reproduce_{kind}"]["wall_s"]
            one = results[f"reproduce_{kind}_one_process"]["wall_s"]
            print(f"reproduce, 5 EWN experiments, {kind}: {wall:.1f} s, "
                  f"{AUTHORS_EWN_SECONDS / wall:.0f}x the authors' ~{AUTHORS_EWN_SECONDS:.0f} s "
                  f"(target <= {target:g} s, >= {AUTHORS_EWN_SECONDS / target:.0f}x); "
                  f"in one process (--jobs 1) {one:.1f} s, {AUTHORS_EWN_SECONDS / one:.0f}x")
    if args.preset == "smoke":
        worst = max(r["warm"]["wall_s"] for r in results["runs"].values())
        print(f"slowest warm smoke run: {worst:.1f} s (target <= {TARGET_SMOKE_S:g} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        sys.exit(probe(sys.argv[4:], sys.argv[2]))
    main()
