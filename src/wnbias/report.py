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
        claims_table(summary["claims"]),
        "",
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
        ]
        lines += [f"![{f}]({e['run_dir']}/{f}.png)\n" for f in e["figures"]]
    return "\n".join(lines)
