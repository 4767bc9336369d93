"""chou-dln-robust at its smoke size: the sparse bias of polar WN at large alpha, the kappa
collapse, the per-vector negative control, the engine against the plain flow's closed-form limit,
and bad input through the CLI."""

import subprocess
import sys

import pytest

EXPECTED_TO_HOLD = (
    "plain GD's error grows with alpha",
    "polar WN's error stays small at alpha >= 1",
    "a larger rho strengthens the bias",
    "plain GD ends at the plain flow's closed-form limit",
    "collapse",
    "negative control",
    "invariants hold",
    "at every sparsity level",
)


def test_smoke_claims(smoke_run):
    record, outcome = smoke_run("chou-dln-robust")
    claims = {c["name"]: c for c in record.summary["claims"]}
    for phrase in EXPECTED_TO_HOLD:
        (claim,) = [c for name, c in claims.items() if phrase in name]
        assert claim["holds"], claim
    plain, polar = outcome.metrics["plain/L2"], outcome.metrics["polar/L2"]
    assert all(s in ("target", "budget") for r in plain + polar for s in r["status"])
    (level,) = outcome.metrics["sparsity"]  # the smoke preset sweeps s = 1 beside s = 3
    assert level["s"] == 1 and len(level["polar"]["error"]) == len(level["instances"]) == 1
    assert level["polar"]["error"][0] < 0.1 * level["plain"]["error"][0]


@pytest.mark.parametrize(("setting", "message"), [
    ("s=60", "s=60 exceeds the dimension n=50"),
    ("sparsities=2,51", "s=51 exceeds the dimension n=50"),
    ("m=60", "m=60 must be below n=50"),
    ("depths=1,2", "needs L >= 2"),
])
def test_bad_sizes_are_one_line_errors(setting, message):
    proc = subprocess.run([sys.executable, "-m", "wnbias.cli", "run", "chou-dln-robust", "--set",
                           setting, "--out", "unused"], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
