"""chou-dln-robust's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.chou_dln_robust``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...papers import cite
from ..base import Experiment
from ..blocks import FlowSolver, dtype_field, flow_solver

INTEGRATORS = ("gd", "flow")


@dataclass(frozen=True)
class Config:
    seed: int = field(0, nonnegative=True, doc="seed of the first instance (A, x*)")
    n_seeds: int = field(3, positive=True, doc="instances, seeds seed .. seed + n_seeds - 1")
    m: int = field(20, positive=True, doc="measurements M")
    n: int = field(50, positive=True, doc="dimension N")
    s: int = field(3, positive=True, doc="nonzeros of x*")
    noise: float = field(0.0, nonnegative=True, doc="std of the measurement noise")
    sparsities: tuple[int, ...] = field(
        (1, 5), positive=True, distinct=True,
        doc="further sparsity levels: plain GD against polar WN (largest rho) at the largest "
            "alpha, first depth, on fresh instances; () for none")
    depths: tuple[int, ...] = field((2, 3), positive=True, distinct=True, doc="depths L >= 2")
    alphas: tuple[float, ...] = field((0.01, 0.1, 1.0, 3.0), positive=True, distinct=True,
                                      doc="initialization scales alpha (u(0) = v(0) = alpha 1)")
    rhos: tuple[float, ...] = field((1e4, 1e6, 1e8), positive=True, distinct=True,
                                    doc="rate ratios rho = eta_r / eta_theta of polar WN")
    kappas: tuple[float, ...] = field((1e-4, 1e-3, 1e-2), positive=True, distinct=True,
                                      doc="kappa = alpha^3/sqrt(rho) of the collapse runs (L = 2)")
    kappa_alphas: tuple[float, ...] = field((0.5, 1.0, 2.0), positive=True, distinct=True,
                                            doc="alphas of the collapse runs (rho from kappa)")
    target_ratio: float = field(1e-10, positive=True, doc="stop at loss <= this * loss(0)")
    max_steps: int = field(100_000, positive=True, doc="GD step budget per run")
    max_relative_step: float = field(0.05, positive=True,
                                     doc="cap on |d p_i| / |p_i| per GD step")
    integrator: str = field("gd", choices=INTEGRATORS,
                            doc="gd: capped backtracking GD; flow: diffrax gradient flow")
    flow: FlowSolver = flow_solver(solver="kvaerno5", rtol=1e-7, atol=1e-10)
    dtype: str = dtype_field(choices=("float64",))

    def check(self) -> None:
        for s in (self.s, *self.sparsities):
            if s > self.n:
                raise ConfigError(f"s={s} exceeds the dimension n={self.n}")
        if not self.m < self.n:
            raise ConfigError(f"m={self.m} must be below n={self.n} (under-determined)")
        if min(self.depths) < 2:
            raise ConfigError(f"depths={self.depths}: a diagonal network needs L >= 2")
        if len(self.alphas) < 2 or len(self.rhos) < 2:
            raise ConfigError("alphas and rhos need at least two values each")


EXPERIMENT = Experiment(
    name="chou-dln-robust",
    title="Polar WN keeps the sparse bias of diagonal linear networks at large initialization",
    paper=cite("chou", "the model reconstructed (README: Reconstructions and choices)"),
    config=Config,
    module="wnbias.experiments.chou_dln_robust",
    version=2,
    presets={"smoke": {"n_seeds": "1", "depths": "2", "alphas": "0.01,1", "rhos": "1e4,1e8",
                       "kappas": "1e-3,1e-2", "kappa_alphas": "1,2", "max_steps": "30000",
                       "sparsities": "1"},
             "full": {"n_seeds": "5", "m": "80", "n": "200", "s": "8", "sparsities": "2,4,16",
                      "depths": "2,3,4",
                      "alphas": "0.001,0.003,0.01,0.03,0.1,0.3,1,2,3,5,10"}},
    expected_seconds=75,
)
