"""Config blocks the experiments share: set with dotted keys (``--set gd.ewn.frac=5``).

- :class:`EWNSchedule` (``gd.*``): the EWN paper's GD, with per-arm ``lr``, ``frac`` and
  ``lr_limit`` under ``gd.plain``, ``gd.swn``, ``gd.ewn`` (the paper's defaults per experiment);
- :class:`FlowSolver` (``flow.*``): the diffrax solver and its tolerances;
- field helpers for the seed/initialization and precision keys, which stay top-level
  (``seed``, ``n_seeds``, ``init``, ``init_from``, ``dtype``) with per-experiment defaults.

Importing this module imports no JAX (the experiments' specs use it to check a config): the
step rules and solvers are built from JAX modules only when a run asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import block, field
from ..errors import ConfigError
from ..names import INIT_SCHEMES
from .flow_options import SOLVERS, get_solver

if TYPE_CHECKING:
    from ..dynamics.schedules import StepRule

DTYPES = ("float64", "float32")
SCHEDULES = ("authors", "paper")
EWN_ARMS = ("plain", "swn", "ewn")  # the parameterizations Morwani & Ramaswamy compare
INIT_DOC = ("torch: PyTorch's nn.Linear default init under torch.manual_seed(seed + i), the "
            "authors' weights; jax: jax.random draws")
INIT_FROM_DOC = ("start from the weights in this .npz instead of init (keys layer1, "
                 "<arm>/layer1 or <arm>/layer1/<param>, e.g. ewn/layer1/a; a leading axis "
                 "gives several seeds; see README)")


def dtype_field(choices: tuple[str, ...] = DTYPES):
    return field("float64", choices=choices, doc="floating-point precision")


def init_field(default: str = "torch", doc: str = INIT_DOC):
    return field(default, choices=INIT_SCHEMES, doc=doc)


def init_from_field(extra: str = ""):
    return field("", doc=INIT_FROM_DOC + extra)


@dataclass(frozen=True)
class ArmSchedule:
    """One parameterization's rate: eta = lr L_ref^-(1-1/frac), backtracking up to lr_limit."""

    lr: float = field(0.01, positive=True, doc="initial learning rate")
    frac: float = field(10.0, nonnegative=True, doc="eta = lr L_ref^-(1-1/frac); 0 means lr/L")
    lr_limit: float = field(0.1, positive=True, doc="backtracking: lr grows up to this")


@dataclass(frozen=True)
class EWNSchedule:
    """The EWN paper's GD (PAPERS.md §1.6): a loss-adaptive rate with backtracking on lr.

    ``schedule="authors"``: their scripts' rule, L_ref the previous accepted iterate's loss (1
    before the first step) and lr grown only while below ``lr_limit``; ``"paper"``: the
    stateless reading, L_ref the current loss and lr capped at ``lr_limit``.
    ``backtrack=False`` keeps lr fixed and accepts every step (a NaN loss then stops the run).
    """

    schedule: str = field("authors", choices=SCHEDULES, doc="authors: their scripts' GD rule "
                          "(previous-loss rate, growth while below lr_limit); paper: current-loss "
                          "rate, lr capped at lr_limit")
    grow: float = field(1.1, positive=True, doc="lr factor after an accepted step (>= 1)")
    shrink: float = field(1.1, positive=True, doc="lr divisor after a rejected step (>= 1)")
    backtrack: bool = field(True, doc="undo loss-raising steps and adapt lr (the authors' rule)")
    max_steps: int = field(100_000, positive=True, doc="accepted-step budget per run")
    plain: ArmSchedule = block(ArmSchedule(), doc="unnormalized")
    swn: ArmSchedule = block(ArmSchedule(), doc="SWN")
    ewn: ArmSchedule = block(ArmSchedule(), doc="EWN")

    def check(self) -> None:
        for key in ("grow", "shrink"):
            if getattr(self, key) < 1:
                raise ConfigError(f"gd.{key}={getattr(self, key)} must be >= 1")

    def rule(self, arm: str) -> StepRule:
        """The step rule of ``arm`` (plain, swn or ewn)."""
        from ..dynamics.schedules import backtracking, loss_adaptive

        rates: ArmSchedule = getattr(self, arm)
        authors = self.schedule == "authors"
        rule = loss_adaptive(rates.lr, rates.frac, reference="previous" if authors else "current")
        if not self.backtrack:
            return rule
        return backtracking(rule, rates.lr_limit, self.grow, self.shrink,
                            growth="while_below" if authors else "capped")


def ewn_schedule(max_steps: int, **arms: ArmSchedule):
    """A ``gd`` block with the paper's per-arm rates, e.g. ``ewn=ArmSchedule(frac=5)``."""
    return block(EWNSchedule(max_steps=max_steps, **arms), doc="GD schedule")


@dataclass(frozen=True)
class FlowSolver:
    """Gradient flow by diffrax: the solver and its step-size controller's tolerances."""

    solver: str = field("tsit5", choices=tuple(SOLVERS), doc="diffrax solver")
    rtol: float = field(1e-8, positive=True, doc="solver relative tolerance")
    atol: float = field(1e-10, positive=True, doc="solver absolute tolerance")

    def options(self) -> dict:
        """Keyword arguments of ``run_flow``."""
        return {"solver": get_solver(self.solver), "rtol": self.rtol, "atol": self.atol}


def flow_solver(**defaults):
    return block(FlowSolver(**defaults), doc="gradient-flow solver")
