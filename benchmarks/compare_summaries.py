"""Compare two runs' summaries, number by number: did a speed change keep the results?

    .venv/bin/python benchmarks/compare_summaries.py BEFORE_RUN_DIR AFTER_RUN_DIR [...]

Pairs of run directories (or of ``reproduce`` output directories, whose experiment
subdirectories are paired by name). For each pair: whether every claim came out the same, how
many metrics differ, and the largest relative difference with the metric's path. Exit status 1
when a claim changed or a metric is missing on one side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _leaves(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}/{i}")
    else:
        yield path, value


def compare(before: Path, after: Path) -> bool:
    """Print one line for the pair; True when the claims and the metrics' paths agree."""
    a, b = (json.loads((d / "summary.json").read_text()) for d in (before, after))
    old, new = dict(_leaves(a["metrics"])), dict(_leaves(b["metrics"]))
    differing = [k for k in old if old[k] != new.get(k)]
    relative = max(((abs(old[k] - new[k]) / max(abs(old[k]), 1e-300), k) for k in differing
                    if isinstance(old[k], float) and isinstance(new.get(k), float)),
                   default=(0.0, "-"))
    same_claims = [c["holds"] for c in a["claims"]] == [c["holds"] for c in b["claims"]]
    same_paths = old.keys() == new.keys()
    print(f"{a['experiment']}: claims {'the same' if same_claims else 'CHANGED'} "
          f"({sum(c['holds'] for c in b['claims'])}/{len(b['claims'])} hold); "
          f"{len(differing)}/{len(old)} metrics differ, largest relative difference "
          f"{relative[0]:.2g} ({relative[1]})" + ("" if same_paths else "; METRICS DIFFER IN KIND"))
    return same_claims and same_paths


def _pairs(before: Path, after: Path):
    if (before / "summary.json").is_file():
        yield before, after
        return
    for run in sorted(p for p in before.iterdir() if (p / "summary.json").is_file()):
        yield run, after / run.name


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        sys.exit(__doc__)
    ok = True
    for before, after in zip(argv[::2], argv[1::2], strict=True):
        for pair in _pairs(Path(before), Path(after)):
            ok &= compare(*pair)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
