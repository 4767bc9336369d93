"""The command line: ``wnbias list | run | reproduce | report``.

Exit status: 0 when a run finished (whether or not its claims hold), 2 for bad input (one line
on stderr, no traceback), 1 for an internal failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

from .errors import UserError, WnbiasWarning

DEFAULT_ROOT = Path("runs")


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = value
    return overrides


def _directory(value: str | None, option: str) -> Path | None:
    """A directory option as a Path; an empty one would mean the working directory."""
    if value is None:
        return None
    if not value.strip():
        raise UserError(f"{option} needs a directory name (an empty one would write into the "
                        "working directory)")
    return Path(value)


def cmd_list(args) -> int:
    from .config import describe
    from .experiments import EXPERIMENTS, get_experiment

    names = args.names or list(EXPERIMENTS)
    for name in names:
        exp = get_experiment(name)
        default = "" if exp.headline else " (not in the default reproduce set)"
        print(f"{exp.name}: {exp.title} [{exp.paper}]{default}")
        if args.names:
            for key, kind, value, doc in describe(exp.config):
                print(f"    {key} ({kind}, default {value!r}): {doc}")
            for preset, overrides in exp.presets.items():
                print(f"    --preset {preset}: " + " ".join(
                    f"{k}={v}" for k, v in overrides.items()))
    if not args.names:
        print("\n`wnbias list NAME` shows an experiment's config keys.")
    return 0


def _checked_config(name: str, preset: str | None = None, overrides=None) -> None:
    """Resolve and check ``name``'s config, so that a config error is reported before the
    runner imports JAX (the runner resolves it again; that is cheap)."""
    from .config import apply_preset, resolve
    from .experiments import get_experiment

    experiment = get_experiment(name)
    resolve(experiment.config, apply_preset(experiment.presets, preset, overrides))


def cmd_run(args) -> int:
    overrides = _parse_sets(args.set)
    out, root = _directory(args.out, "--out"), _directory(args.root, "--root")
    _checked_config(args.name, args.preset, overrides)  # before JAX is imported

    from .runner import run_experiment

    record = run_experiment(
        args.name, overrides, preset=args.preset, out=out, root=root,
        force=args.force, progress=not args.quiet,
    )
    _print_record(record)
    return 0


def cmd_report(args) -> int:
    from .runner import report_run

    record = report_run(args.run_dir)
    _print_record(record, how="judged again from the store")
    print(f"report: {record.run_dir / 'report.md'}")
    return 0


def cmd_reproduce(args) -> int:
    from .experiments import EXPERIMENTS, get_experiment

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs must be a positive integer, got {args.jobs}")

    names = list(dict.fromkeys(args.names)) or [n for n, e in EXPERIMENTS.items() if e.headline]
    args.out = _directory(args.out, "--out")
    experiments = [get_experiment(n) for n in names]  # all names checked before any work
    for exp in experiments:  # and every config, before JAX is imported
        _checked_config(exp.name, exp.reproduce_preset)

    from .report import combined_report
    from .store import write_text
    from .workers import run_experiments

    runs = {}
    jobs = args.jobs or min(len(experiments), os.cpu_count() or 1)
    records = run_experiments([(exp.name, exp.reproduce_preset) for exp in experiments],
                              jobs=jobs, root=args.out, force=args.force,
                              progress=not args.quiet)
    for exp, record in zip(experiments, records, strict=False):
        _print_record(record)
        runs[record.run_dir.resolve()] = (exp, record.summary, record.reused)
    others = _finished_runs(args.out, exclude=set(runs))
    entries = [{"experiment": exp.name, "title": exp.title, "paper": exp.paper,
                "run_dir": path.relative_to(Path(args.out).resolve()).as_posix(),
                "summary": summary, "figures": summary["figures"], "reused": reused}
               for path, (exp, summary, reused) in sorted(
                   {**runs, **others}.items(),
                   key=lambda item: (list(EXPERIMENTS).index(item[1][0].name), item[0].name))]
    report = Path(args.out) / "report.md"
    write_text(report, combined_report(entries))
    extra = f" (and {len(others)} earlier finished run(s) in {args.out})" if others else ""
    print(f"report: {report}{extra}")
    return 0


def _finished_runs(root: Path, exclude: set) -> dict:
    """Every other finished run directory under ``root``: a reproduce of a subset keeps what a
    full one wrote in the combined report."""
    from . import store
    from .experiments import EXPERIMENTS

    found = {}
    for path in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        path = path.resolve()
        held = store.held_run(path) if path.is_dir() and path not in exclude else None
        summary = store.read_summary(path) if held else None
        if summary is not None and held[0] in EXPERIMENTS:
            found[path] = (EXPERIMENTS[held[0]], summary, True)
    return found


def _print_record(record, how: str | None = None) -> None:
    claims = record.summary["claims"]
    held = sum(c["holds"] for c in claims)
    how = how or ("reused" if record.reused else "finished")
    print(f"{record.experiment}: {how}, {held}/{len(claims)} claims hold -> {record.run_dir}")
    for c in claims:
        print(f"  [{'ok' if c['holds'] else 'NO'}] {c['name']}: {c['measured']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wnbias", description="Inductive bias of GD under weight normalization."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list experiments, or one experiment's config keys")
    p.add_argument("names", nargs="*")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run one experiment into its run directory")
    p.add_argument("name")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    p.add_argument("--out", help="the run directory (default: ROOT/NAME-HASH)")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="where run directories go")
    p.add_argument("--preset", help="a named set of overrides (e.g. smoke); --set goes on top")
    p.add_argument("--force", action="store_true", help="rerun even if a finished run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="re-judge and redraw a finished run from its directory")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reproduce", help="run the headline experiments and write one report")
    p.add_argument("names", nargs="*", help="experiments (default: the headline set)")
    p.add_argument("--out", default=str(DEFAULT_ROOT), help="runs and report.md go here")
    p.add_argument("--force", action="store_true", help="rerun finished runs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--jobs", type=int, default=None,
                   help="experiments run at once, each in its own process (default: one per "
                        "CPU core, at most one per experiment; 1: one after another here)")
    p.set_defaults(func=cmd_reproduce)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, WnbiasWarning):
        print(f"wnbias: warning: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


INTERRUPTED = "wnbias: interrupted; finished runs are kept and will be reused"


def _interrupt(signum, frame) -> None:
    """Ctrl-C stops at once, at any moment: a KeyboardInterrupt raised inside a callback (JAX's
    garbage-collection hook during the imports) would be swallowed and the run go on. Every
    file is written to a temporary name first, so stopping here loses no finished result."""
    print(INTERRUPTED, file=sys.stderr, flush=True)
    if "multiprocessing" in sys.modules:  # reproduce's workers (wnbias.workers) stop too
        for child in sys.modules["multiprocessing"].active_children():
            child.terminate()
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # the command line, not a call from Python code
        signal.signal(signal.SIGINT, _interrupt)
    warnings.showwarning = _one_line_warning
    try:
        from .cache import enable_compilation_cache

        enable_compilation_cache()  # before JAX is imported (the command imports it if needed)
        status = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is caught here, not at exit
        return status
    except UserError as error:
        print(f"wnbias: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `wnbias ... | head`: the reader left; the work is done and kept
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except OSError as error:  # an unwritable or misplaced directory, a full disk
        where = f": {error.filename}" if error.filename else ""
        print(f"wnbias: error: cannot write{where}: {error.strerror or error}; choose a "
              "writable directory with --out / --root", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
