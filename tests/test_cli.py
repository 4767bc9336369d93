"""The command line: runs, the store, and one clear line for every kind of bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from wnbias import store
from wnbias.cli import main
from wnbias.experiments import EXPERIMENTS

FAST_TRAJ = ["--set", "inits=1,1", "--set", "target_log_loss=-10", "--quiet"]


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ewn-simple-traj" in out and "ewn-xor" in out
    assert main(["list", "ewn-xor"]) == 0
    assert "n_seeds (int, default 8)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope"], "unknown experiment 'nope'; allowed: ewn-simple-traj, ewn-xor"),
        (["run", "ewn-xor", "--set", "bogus=1"], "unknown config key 'bogus'; allowed: seed"),
        (["run", "ewn-xor", "--set", "n_seeds=many"], "n_seeds='many' is not a valid int"),
        (["run", "ewn-xor", "--set", "gd.ewn.lr=-0.1"], "gd.ewn.lr=-0.1 must be positive"),
        (["run", "ewn-xor", "--set", "gd.ewn.bogus=1"], "unknown config key 'gd.ewn.bogus'"),
        (["run", "ewn-xor", "--set", "gd.grow=0.5"], "gd.grow=0.5 must be >= 1"),
        (["run", "ewn-xor", "--preset", "fast"], "unknown preset 'fast'; allowed: smoke"),
        (["run", "ewn-xor", "--set", "width=0"], "width=0 must be positive"),
        (["run", "ewn-xor", "--set", "gd.swn.lr=nan"], "gd.swn.lr=nan must be finite"),
        (["run", "ewn-xor", "--set", "gd.backtrack=maybe"], "allowed: true, false"),
        (["run", "ewn-xor", "--set", "dtype=float16"], "allowed: float64, float32"),
        (["run", "ewn-xor", "--set", "parameterizations=ewn,bn"], "allowed: plain, swn, ewn"),
        (["run", "ewn-xor", "--set", "lr"], "--set expects KEY=VALUE"),
        (["run", "ewn-xor", "--set", "init=pytorch"],
         "init='pytorch' is not allowed; allowed: torch, jax"),
        (["run", "ewn-lin-sep", "--set", "gd.schedule=fast"], "allowed: authors, paper"),
        (["run", "ewn-xor", "--set", "init_from=/nonexistent/w.npz"], "no such file"),
        (["reproduce", "ewn-xor", "nope"], "unknown experiment 'nope'"),
        (["reproduce", "ewn-xor", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
        (["run", "ewn-xor", "--set", "seed=100000000000000000000000"],
         "seed=100000000000000000000000 is out of range: integer keys lie within"),
        (["run", "min-width-bias", "--set", "max_steps=1000000000000000000000"],
         "max_steps=1000000000000000000000 is out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    extra = ["--quiet", "--root"] if argv[0] == "run" else ["--out"]
    assert main([*argv, *extra, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing was started


def test_run_writes_the_run_directory_and_reuses_it(tmp_path, capsys):
    out = tmp_path / "exact"
    assert main(["run", "ewn-simple-traj", "--out", str(out), *FAST_TRAJ]) == 0
    assert {p.name for p in out.iterdir()} == {
        "config.json", "summary.json", "trajectory.npz", "outcome.json", "trajectories.png",
        "report.md", "env.json",
    }
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"metrics", "claims"}
    for claim in summary["claims"]:
        assert set(claim) == {"name", "paper", "measured", "holds", "criterion"}
    config = json.loads((out / "config.json").read_text())
    assert config["target_log_loss"] == -10.0 and config["seed"] == 2137
    assert "ewn::series::w" in np.load(out / "trajectory.npz")
    assert "| claim | paper | measured | holds |" in (out / "report.md").read_text()
    assert "finished" in capsys.readouterr().out

    stamp = (out / "summary.json").stat().st_mtime_ns
    assert main(["run", "ewn-simple-traj", "--out", str(out), *FAST_TRAJ]) == 0
    assert "reused" in capsys.readouterr().out
    assert (out / "summary.json").stat().st_mtime_ns == stamp
    assert main(["run", "ewn-simple-traj", "--out", str(out), "--force", *FAST_TRAJ]) == 0
    assert "finished" in capsys.readouterr().out


def test_run_dir_named_by_config_hash(tmp_path):
    assert main(["run", "ewn-simple-traj", "--root", str(tmp_path), *FAST_TRAJ]) == 0
    (run_dir,) = tmp_path.iterdir()
    config = json.loads((run_dir / "config.json").read_text())
    config.pop("experiment")
    config["outcome_version"] = EXPERIMENTS["ewn-simple-traj"].version  # older code: no reuse
    assert run_dir.name == f"ewn-simple-traj-{store.config_hash('ewn-simple-traj', config)}"


def test_unfinished_run_is_not_trusted(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "ewn-simple-traj", "--out", str(out), *FAST_TRAJ]) == 0
    (out / "summary.json").write_text("{ half written")
    assert main(["run", "ewn-simple-traj", "--out", str(out), *FAST_TRAJ]) == 0
    assert "finished" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["claims"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nonfinite_loss_exit_2_and_keeps_trajectory(tmp_path, capsys, dtype):
    out = tmp_path / "nan"
    lr = "1e38" if dtype == "float32" else "1e300"
    argv = ["run", "ewn-simple-traj", "--out", str(out), "--set", f"gd.ewn.lr={lr}", "--set",
            "gd.backtrack=false", "--set", f"dtype={dtype}", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "lower the learning rate" in err and err.count("\n") == 1
    assert ("or use float64" in err) == (dtype == "float32")  # no advice to use what it uses
    assert (out / "trajectory.npz").exists() and (out / "failure.json").exists()
    assert not (out / "summary.json").exists()
    assert np.load(out / "trajectory.npz")["ewn::length"][0] >= 1


def test_reproduce_writes_one_report(tmp_path):
    assert main(["reproduce", "ewn-simple-traj", "--out", str(tmp_path), "--quiet"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "# wnbias reproduction report" in report and "ewn-simple-traj" in report
    assert "claims supported" in report


def test_reproduce_side_by_side_gives_the_same_runs_in_the_order_asked(tmp_path):
    """--jobs 2: each experiment in a worker process of its own (a name given twice runs
    once); the records print in the order asked, with the metrics of one run after another."""
    names = ["ewn-lin-sep", "ewn-simple-traj", "ewn-lin-sep"]
    done = subprocess.run([sys.executable, "-m", "wnbias.cli", "reproduce", *names, "--jobs",
                           "2", "--quiet", "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    finished = [line.split(":")[0] for line in done.stdout.splitlines() if "claims hold" in line]
    assert finished == ["ewn-lin-sep", "ewn-simple-traj"]
    one = ["reproduce", *names, "--jobs", "1", "--quiet", "--out", str(tmp_path / "one")]
    assert main(one) == 0
    for name in names[:2]:
        (two,), (one,) = ((tmp_path / d).glob(f"{name}-*/summary.json") for d in ("two", "one"))
        assert json.loads(two.read_text())["metrics"] == json.loads(one.read_text())["metrics"]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    store.write_json(tmp_path / "a.json", {"x": np.float64(1.5), "y": np.arange(3)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_entry_point_exit_status_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "wnbias.cli", "run", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("wnbias: error: unknown experiment")


@pytest.mark.parametrize(
    ("experiment", "arrays", "message"),
    [
        ("ewn-xor", {"layer1": np.ones((20, 3))},
         "'layer1' has shape (20, 3); expected (20, 2) or (seeds, 20, 2)"),
        ("ewn-xor", {"layer1": np.ones((20, 2)), "layer9": np.ones(2)}, "unknown key 'layer9'"),
        ("ewn-lin-sep", {"layer1": np.ones((8, 2))}, "no initial weights for swn/layer2"),
        ("ewn-conv-rate", {"layer1": np.ones((1, 2))}, "no such file"),  # {depth} not expanded
        ("ewn-xor", None, "not a readable .npz file"),
    ],
)
def test_bad_init_from_through_the_cli(tmp_path, experiment, arrays, message):
    path = tmp_path / "init.npz"
    if arrays is None:
        path.write_bytes(b"PK\x03\x04 truncated")
    else:
        np.savez(path, **arrays)
    root = tmp_path / "runs"
    init = str(path).replace("init.npz", "init{depth}.npz") if "conv" in experiment else path
    proc = subprocess.run(
        [sys.executable, "-m", "wnbias.cli", "run", experiment, "--set", f"init_from={init}",
         "--root", str(root), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert not root.exists()  # nothing was started


def test_run_writes_its_initial_parameters_and_init_from_reuses_them(tmp_path, capsys):
    fast = ["--set", "n_seeds=2", "--set", "target_log_loss=-5", "--set",
            "parameterizations=ewn", "--quiet"]
    assert main(["run", "ewn-xor", "--out", str(tmp_path / "a"), *fast]) == 0
    first = json.loads((tmp_path / "a" / "summary.json").read_text())["metrics"]
    init = tmp_path / "a" / "initial_parameters.npz"
    assert set(np.load(init)) == {"ewn/layer1/a", "ewn/layer1/v"}
    assert main(["run", "ewn-xor", "--out", str(tmp_path / "b"), *fast, "--set",
                 f"init_from={init}"]) == 0
    again = json.loads((tmp_path / "b" / "summary.json").read_text())["metrics"]
    assert again["ewn"]["epochs"] == first["ewn"]["epochs"]
    assert again["ewn"]["final_log_loss"] == first["ewn"]["final_log_loss"]
