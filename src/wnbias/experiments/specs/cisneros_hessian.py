"""cisneros-hessian's spec: its config, presets and version, importable without
JAX; the computation is in ``wnbias.experiments.cisneros_hessian``."""

from __future__ import annotations

from dataclasses import dataclass

from ...config import field
from ...errors import ConfigError
from ...names import ACTIVATION_NAMES
from ...papers import cite
from ..base import Experiment
from ..blocks import dtype_field

OPTIMIZERS = ("as_run", "as_written")
NORMALIZATIONS = {"normalized": "normalized", "gain": "swn", "none": "plain"}
PROBE = 512  # the authors measured the two ratios on the first 512 training points


@dataclass(frozen=True)
class Config:
    dataset: str = field("mnist", choices=("mnist", "digits"),
                         doc="mnist (IDX files in data_dir) or digits (scikit-learn's 8x8)")
    data_dir: str = field("", doc="directory of the MNIST IDX files (gzipped or not); "
                                  "'' = $WNBIAS_DATA/mnist")
    n_train: int = field(8192, nonnegative=True, doc="training images (0 = all available)")
    n_test: int = field(0, nonnegative=True, doc="test images (0 = all the others)")
    seed: int = field(0, nonnegative=True, doc="seed of the split, the inits and the batches")
    n_seeds: int = field(1, positive=True, doc="inits per width of the authors' runs (vmap)")
    widths: tuple[int, ...] = field((512, 1024), positive=True, distinct=True,
                                    doc="hidden widths m of the authors' runs")
    depth: int = field(2, positive=True, doc="hidden layers L of the authors' runs")
    c: float = field(5.0, positive=True, doc="the constant of (c/sqrt(m)) Wbar a")
    sigma2: float = field(5.0, positive=True, doc="hidden init Uniform(+-sigma/sqrt(m))")
    activation: str = field("tanh", choices=ACTIVATION_NAMES, doc="hidden activation")
    normalization: str = field("normalized", choices=tuple(NORMALIZATIONS),
                               doc="normalized (rows / norm, no gain; the authors'), gain "
                                   "(w = g v/||v||), none (the same net unnormalized)")
    optimizer: str = field("as_run", choices=OPTIMIZERS,
                           doc="as_run: one full-batch step per epoch, lr * summed_batches (the "
                               "authors' code); as_written: minibatch SGD, batch_size, lr")
    lr: float = field(1e-3, positive=True, doc="learning rate of one batch")
    batch_size: int = field(512, positive=True, doc="batch size")
    summed_batches: int = field(117, nonnegative=True,
                                doc="as_run: batch gradients summed into each step (the "
                                    "authors' floor(60000/512) = 117 on full MNIST, so the step "
                                    "is theirs, 0.117); 0 = floor(n_train/batch_size)")
    epochs: int = field(500, positive=True, doc="epochs (= steps under as_run)")
    checkpoints: int = field(5, positive=True,
                             doc="Hessian measurements along training (equal segments)")
    hessian_inputs: int = field(2, positive=True,
                                doc="training inputs the predictor-Hessian norm maximizes over")
    hessian_outputs: int = field(3, positive=True,
                                 doc="output coordinates 0..k-1 it maximizes over (of 10)")
    lanczos_iters: int = field(128, positive=True, doc="Lanczos steps per (input, output)")
    row_norm: float = field(1.0, positive=True, doc="hidden row norm of the sweeps at init")
    sweep_widths: tuple[int, ...] = field((64, 128, 256, 512, 1024, 2048), positive=True,
                                          distinct=True, doc="widths of the init sweep")
    sweep_depths: tuple[int, ...] = field((2, 3, 4, 6, 8), positive=True, distinct=True,
                                          doc="hidden depths of the init sweep")
    sweep_width: int = field(256, positive=True, doc="width of the depth and scale sweeps")
    scales: tuple[float, ...] = field((0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
                                      positive=True, distinct=True,
                                      doc="row scales s of the scale sweep")
    gap_widths: tuple[int, ...] = field((64, 256, 1024), positive=True, distinct=True,
                                        doc="widths trained for the generalization gap")
    gap_depths: tuple[int, ...] = field((2, 4, 8), positive=True, distinct=True,
                                        doc="hidden depths trained for the gap (sweep_width)")
    gap_epochs: int = field(200, positive=True, doc="epochs of the gap runs")
    dtype: str = dtype_field()

    def check(self) -> None:
        for name in ("sweep_widths", "sweep_depths", "scales"):
            if len(getattr(self, name)) < 3:
                raise ConfigError(f"{name} needs at least 3 values to fit an exponent")
        for name in ("gap_widths", "gap_depths"):
            if len(getattr(self, name)) < 2:
                raise ConfigError(f"{name} needs at least 2 values")
        if self.epochs % self.checkpoints:
            raise ConfigError(f"epochs={self.epochs} must be a multiple of "
                              f"checkpoints={self.checkpoints}")
        if self.n_train and self.n_train < max(self.batch_size, self.hessian_inputs, PROBE):
            raise ConfigError(f"n_train={self.n_train} must be at least batch_size="
                              f"{self.batch_size} and {PROBE} (the ratios' probe)")


EXPERIMENT = Experiment(
    name="cisneros-hessian",
    title="WeightNorm Hessians against width, depth and row norms, on real data",
    paper=cite("cisneros"),
    config=Config,
    module="wnbias.experiments.cisneros_hessian",
    presets={
        "quick": {"dataset": "digits", "n_train": "1280", "widths": "64,128", "epochs": "500",
                  "sweep_widths": "64,128,256,512", "sweep_width": "128",
                  "gap_widths": "32,128,512", "gap_epochs": "200"},
        "smoke": {"dataset": "digits", "n_train": "1024", "widths": "32", "epochs": "40",
                  "checkpoints": "2", "sweep_widths": "16,32,64", "sweep_depths": "2,3,4",
                  "sweep_width": "32", "scales": "0.01,0.1,1,10,100",
                  "gap_widths": "16,32", "gap_depths": "2,3", "gap_epochs": "20",
                  "hessian_inputs": "1"},
        "full": {"n_train": "0", "n_seeds": "3",
                 "sweep_widths": "64,128,256,512,1024,2048,4096"},
    },
    reproduce_preset="quick",
    expected_seconds=120,
)
