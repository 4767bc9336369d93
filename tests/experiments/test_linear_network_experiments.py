"""Min et al.'s and Wu et al.'s experiments at their smoke sizes: the claims hold, the flow runs
beside GD, and a step past rPGD's guard is said before training."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from wnbias.config import resolve
from wnbias.errors import WnbiasWarning
from wnbias.experiments import wu_wn_least_squares
from wnbias.measure.least_squares import wn_limit

LINEAR = ("min-imbalance-width", "min-imbalance-rate", "min-width-bias", "wu-wn-least-squares")


@pytest.mark.parametrize("name", LINEAR)
def test_smoke_claims_hold_with_the_flow_beside_gd(name, smoke_run):
    record, outcome = smoke_run(name)
    failing = [c["name"] + ": " + c["measured"] for c in record.summary["claims"]
               if not c["holds"]]
    assert not failing
    assert any(key.startswith("flow") for key in outcome.trajectories), "no flow beside GD"
    assert any("flow" in c["name"].lower() or "flow" in c["measured"].lower()
               for c in record.summary["claims"])


def test_rpgd_guard_warns_before_training():
    config = resolve(wu_wn_least_squares.Config, {"eta": "0.05", "g0s": "0.1,10"})
    problem = wu_wn_least_squares.setup(config)
    a, y, w0 = (problem.extra[k] for k in ("a", "y", "w0"))
    limits = [wn_limit(a, y, g0, w0, c) for g0, c in wu_wn_least_squares._grid(config)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        past = wu_wn_least_squares._rpgd_guard(config, a, limits)
    assert past and all("g0=10" in p for p in past)
    assert any(issubclass(w.category, WnbiasWarning) and "eta g^2 ||A||^2" in str(w.message)
               for w in caught)
    quiet = resolve(wu_wn_least_squares.Config, {})
    limits = [wn_limit(a, y, g0, w0, c) for g0, c in wu_wn_least_squares._grid(quiet)]
    assert not wu_wn_least_squares._rpgd_guard(quiet, a, limits)
    assert np.isfinite(a).all()


def test_cli_prints_a_wnbias_warning_on_one_line():
    code = ("import warnings, sys; from wnbias import cli; from wnbias.errors import "
            "WnbiasWarning; warnings.showwarning = cli._one_line_warning; "
            "warnings.warn(WnbiasWarning('rPGD past its guard'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr == "wnbias: warning: rPGD past its guard\n"
