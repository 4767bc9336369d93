"""Solver names accepted in configs, mapped to diffrax solver objects."""

from __future__ import annotations

import diffrax

SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "kvaerno5": diffrax.Kvaerno5,
}


def get_solver(name: str):
    """A fresh diffrax solver for a config's ``solver`` string."""
    return SOLVERS[name]()
