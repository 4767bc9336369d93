"""Solver names accepted in configs, mapped to diffrax solver classes (diffrax is imported only
when a solver is built, so that a config is checked without it)."""

from __future__ import annotations

SOLVERS = {
    "tsit5": "Tsit5",
    "dopri5": "Dopri5",
    "dopri8": "Dopri8",
    "kvaerno5": "Kvaerno5",
}


def get_solver(name: str):
    """A fresh diffrax solver for a config's ``solver`` string."""
    import diffrax

    return getattr(diffrax, SOLVERS[name])()
