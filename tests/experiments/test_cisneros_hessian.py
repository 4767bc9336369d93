"""cisneros-hessian at its smoke size (scikit-learn's digits), its set-up on the shared MNIST
files, and bad data through the CLI."""

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wnbias.config import resolve
from wnbias.errors import WnbiasWarning
from wnbias.experiments import cisneros_hessian as ch

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def test_smoke_claims(smoke_run):
    record, outcome = smoke_run("cisneros-hessian")
    claims = {c["name"]: c for c in record.summary["claims"]}
    for phrase in ("rho_t never decreases", "s^-2 for small", "s^-1 for large"):
        (claim,) = [c for name, c in claims.items() if phrase in name]
        assert claim["holds"], claim
    assert not [n for n in claims if "authors' final MNIST" in n]  # judged on MNIST only
    (run,) = outcome.metrics["runs"]
    loss = outcome.trajectories["m32"].series["loss"][0]
    assert loss[-1] < 0.5 * loss[0] and len(loss) == 41  # 40 epochs in two segments
    assert [h["epoch"] for h in run["hessian"]] == [0, 20, 40]
    assert all(h["norm"] is not None for h in run["hessian"])
    assert "digits" in outcome.metrics["source"]


def test_a_non_smooth_activation_is_warned_in_the_notes():
    config = resolve(ch.Config, {**ch.EXPERIMENT.presets["smoke"], "activation": "relu"})
    with pytest.warns(WnbiasWarning, match="not twice differentiable"):
        problem = ch.setup(config)
    assert any("not twice differentiable" in n for n in problem.extra["notes"])


def test_setup_on_the_shared_mnist_test_files():
    if not SHARED_MNIST.is_dir():
        pytest.skip(f"{SHARED_MNIST} not present (a fresh clone): no MNIST files to read")
    config = resolve(ch.Config, {"data_dir": str(SHARED_MNIST)})
    problem = ch.setup(config)
    x, y = problem.data["train"]
    assert x.shape == (8192, 1024) and y.shape == (8192, 10)
    assert problem.data["test"][0].shape == (1808, 1024)
    assert "t10k" in problem.extra["source"] and "8192" in problem.extra["source"]
    np.testing.assert_allclose(np.asarray(y).sum(axis=1), 1.0)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "wnbias.cli", "run", "cisneros-hessian", *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("content", ["missing", "bad magic", "truncated"])
def test_bad_mnist_files_are_one_line_errors(tmp_path, content):
    data = tmp_path / "mnist"
    data.mkdir()
    images = data / "t10k-images-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    if content == "bad magic":
        images.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3)))
    elif content == "truncated":
        images.write_bytes(gzip.compress(header + bytes(100)))
    labels = data / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes(3)))
    target = tmp_path / "nowhere" if content == "missing" else data
    proc = _cli("--set", f"data_dir={target}", "--out", str(tmp_path / "run"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    expected = {"missing": "nowhere", "bad magic": "t10k-images", "truncated": "truncated"}
    assert expected[content] in proc.stderr


def test_no_data_dir_and_no_wnbias_data_says_how_to_give_one(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "WNBIAS_DATA"}
    proc = _cli("--out", str(tmp_path / "run"), env=env)
    assert proc.returncode == 2 and "data_dir" in proc.stderr and "WNBIAS_DATA" in proc.stderr
    assert proc.stderr.count("\n") == 1
