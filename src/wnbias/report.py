"""Markdown reports: one per run, and one for a ``reproduce`` of several experiments."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_table(claims: Sequence[Mapping[str, Any]]) -> str:
    rows = ["| claim | paper | measured | holds |", "|---|---|---|---|"]
    for c in claims:
        mark = "yes" if c["holds"] else "**no**"
        cells = [_cell(c["name"]), _cell(c["paper"]), _cell(c["measured"]), mark]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# config keys that say what ran: the parameterizations, the dynamics, the seeds, the precision
SETUP_KEYS = ("parameterizations", "arms", "normalization", "integrator", "dynamics", "optimizer",
              "schedule", "dataset", "seed", "seeds", "n_seeds", "dtype")


def setup_line(config: Mapping[str, Any]) -> str:
    """One line naming what the run ran, from the config keys that say so."""
    parts = [f"{k} = {_cell(config[k])}" for k in SETUP_KEYS if k in config]
    return "Ran with " + ", ".join(parts) + "." if parts else ""


def failing_claims(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """A line per failing claim: what was measured against which test."""
    lines = []
    for c in claims:
        if not c["holds"]:
            test = c.get("criterion") or "the test in the experiment's claims() (its docstring)"
            lines.append(f"- **{c['name']}** fails: measured {c['measured']}; it holds when "
                         f"{test}.")
    return (["### Why the failing claims fail", "", *lines, ""]) if lines else []


def run_report(
    title: str,
    experiment: str,
    paper: str,
    config: Mapping[str, Any],
    summary: Mapping[str, Any],
    figures: Sequence[str],
    notes: Sequence[str] = (),
) -> str:
    """The report of one run: claims, notes, figures, config and metrics."""
    held = sum(c["holds"] for c in summary["claims"])
    lines = [
        f"# {experiment}: {title}",
        "",
        f"Paper: {paper}. Claims supported by this run: {held} of {len(summary['claims'])}.",
        "",
        setup_line(config),
        "",
        claims_table(summary["claims"]),
        "",
        *failing_claims(summary["claims"]),
    ]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += [f"![{f}]({f}.png)\n" for f in figures]
    lines += ["## Config", "", "```json", json.dumps(config, indent=2), "```", ""]
    lines += ["## Metrics", "", "```json", json.dumps(summary["metrics"], indent=1), "```", ""]
    return "\n".join(lines)


def combined_report(entries: Sequence[Mapping[str, Any]]) -> str:
    """The ``reproduce`` report: one section per experiment, linking its run directory.

    Each entry has ``experiment``, ``title``, ``paper``, ``run_dir`` (relative), ``summary``,
    ``figures`` and ``reused``.
    """
    total = sum(len(e["summary"]["claims"]) for e in entries)
    held = sum(c["holds"] for e in entries for c in e["summary"]["claims"])
    lines = [
        "# wnbias reproduction report",
        "",
        f"{held} of {total} claims supported, over {len(entries)} experiments. Every "
        "'measured' value is computed by this run; 'paper' quotes the published value.",
        "",
    ]
    for e in entries:
        reused = " (reused a finished run with the same config)" if e["reused"] else ""
        lines += [
            f"## {e['experiment']}: {e['title']}",
            "",
            f"{e['paper']}. Run directory: [{e['run_dir']}]({e['run_dir']}/report.md){reused}.",
            "",
            claims_table(e["summary"]["claims"]),
            "",
            *failing_claims(e["summary"]["claims"]),
        ]
        lines += [f"![{f}]({e['run_dir']}/{f}.png)\n" for f in e["figures"]]
    return "\n".join(lines)
