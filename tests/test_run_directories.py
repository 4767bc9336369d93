"""Nothing overwritten, nothing lost (issue 18): --out holding something else, an empty --out,
stale temporaries, corrupted summaries, missing outputs, unwritable directories, a reproduce of a
subset, all through the CLI in a subprocess where the behaviour is the CLI's."""

import json
import os
import subprocess
import sys
import time

import pytest

from wnbias import store
from wnbias.cli import main

TRAJ = ["--set", "inits=1,1", "--set", "target_log_loss=-10", "--quiet"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wnbias.cli", *args], capture_output=True,
                          text=True, cwd=cwd)


def _one_line_error(proc, *phrases):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


def test_out_holding_another_config_is_refused_then_replaced_with_force(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "ewn-simple-traj", *TRAJ, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")  # the user's own file beside the run
    before = json.loads((out / "summary.json").read_text())["config_hash"]
    proc = _cli("run", "ewn-simple-traj", *TRAJ, "--set", "target_log_loss=-8", "--out", str(out))
    _one_line_error(proc, "holds another config of ewn-simple-traj", "--force")
    assert json.loads((out / "summary.json").read_text())["config_hash"] == before  # untouched
    proc = _cli("run", "ewn-xor", "--preset", "smoke", "--out", str(out))
    _one_line_error(proc, "holds a run of ewn-simple-traj")
    assert main(["run", "ewn-simple-traj", *TRAJ, "--set", "target_log_loss=-8", "--out",
                 str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["config_hash"] != before
    assert (out / "notes.txt").read_text() == "mine"  # --force removes only the run's files


def test_out_holding_files_that_are_no_run_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"mine": 1}')
    (tmp_path / "report.md").write_text("my report")
    proc = _cli("run", "ewn-simple-traj", *TRAJ, "--out", str(tmp_path))
    _one_line_error(proc, "not empty and holds no wnbias run", "--force")
    assert (tmp_path / "report.md").read_text() == "my report"


@pytest.mark.parametrize("option", ["--out", "--root"])
def test_an_empty_directory_option_is_refused(tmp_path, option):
    proc = _cli("run", "ewn-simple-traj", *TRAJ, option, "", cwd=tmp_path)
    _one_line_error(proc, f"{option} needs a directory name")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_go_and_fresh_ones_stay(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale, fresh = out / ".summary.json.abc.tmp", out / ".report.md.xyz.tmp"
    stale.write_text("x")
    fresh.write_text("y")
    old = time.time() - 2 * store.STALE_SECONDS
    os.utime(stale, (old, old))
    store.remove_stale_temporaries(out)
    assert not stale.exists() and fresh.exists()


@pytest.mark.parametrize("damage", ["not utf-8", "wrong shape", "missing keys", "no figure",
                                    "broken trajectory"])
def test_a_damaged_finished_run_is_computed_again(tmp_path, capsys, damage):
    out = tmp_path / "run"
    assert main(["run", "ewn-simple-traj", *TRAJ, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    if damage == "not utf-8":
        (out / "summary.json").write_bytes(b"\xff\xfe{")
    elif damage == "wrong shape":
        (out / "summary.json").write_text("[1, 2]")
    elif damage == "missing keys":
        (out / "summary.json").write_text('{"config_hash": "x"}')
    elif damage == "no figure":
        (out / f"{summary['figures'][0]}.png").unlink()
    else:
        (out / "trajectory.npz").write_bytes(b"PK\x03\x04 truncated")
    capsys.readouterr()
    assert main(["run", "ewn-simple-traj", *TRAJ, "--out", str(out)]) == 0
    assert "finished" in capsys.readouterr().out  # recomputed, not "reused"
    assert store.is_complete(out, store.read_summary(out))


def test_unwritable_or_file_directories_are_one_line_errors(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_error(_cli("run", "ewn-simple-traj", *TRAJ, "--out", str(afile)), "is a file")
    _one_line_error(_cli("run", "ewn-simple-traj", *TRAJ, "--root", str(afile)),
                    "cannot write")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            _one_line_error(_cli("run", "ewn-simple-traj", *TRAJ, "--root", str(locked)),
                            "cannot write")
        finally:
            locked.chmod(0o700)


def test_a_subset_reproduce_keeps_the_other_runs_in_the_report(tmp_path):
    assert main(["reproduce", "ewn-simple-traj", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["run", "ewn-xor", "--preset", "smoke", "--root", str(tmp_path), "--quiet"]) == 0
    assert main(["reproduce", "ewn-simple-traj", "--out", str(tmp_path), "--quiet"]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "ewn-simple-traj" in report and "ewn-xor" in report


def test_a_closed_pipe_is_not_an_error():
    """`wnbias list | head -1`: the reader leaves early; no traceback, no 'cannot write'."""
    proc = subprocess.Popen([sys.executable, "-m", "wnbias.cli", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate()
    assert proc.returncode == 0 and b"Traceback" not in err and b"cannot write" not in err, err


def test_the_cli_keeps_compiled_programs_in_its_cache_dir(tmp_path):
    """A second identical run in a fresh process finds the programs the first one compiled."""
    env = {**os.environ, "WNBIAS_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "wnbias.cli", "run", "ewn-simple-traj", *TRAJ]
    first = subprocess.run([*args, "--out", str(tmp_path / "a")], env=env, capture_output=True)
    assert first.returncode == 0, first.stderr
    entries = {p.name for p in (tmp_path / "cache").iterdir()}
    assert entries  # programs were written
    second = subprocess.run([*args, "--out", str(tmp_path / "b")], env=env, capture_output=True)
    assert second.returncode == 0
    assert {p.name for p in (tmp_path / "cache").iterdir()} == entries  # all found, none new
    # off means off, also where a parent process left JAX's own variable set
    off = subprocess.run([*args, "--out", str(tmp_path / "c")], capture_output=True,
                         env={**env, "WNBIAS_CACHE_DIR": "off",
                              "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "inherited")})
    assert off.returncode == 0 and not (tmp_path / "inherited").exists()


def test_ctrl_c_in_the_first_second_exits_130_with_one_line(tmp_path):
    """SIGINT while JAX and the experiments are still being imported."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "wnbias.cli", "run", "ewn-simple-traj", *TRAJ,
                             "--out", str(tmp_path / "run")], stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # inside the imports (they take seconds)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1 and "interrupted" in err


def test_library_warnings_of_a_run_reach_its_report_once(monkeypatch):
    """What the terminal showed (a WnbiasWarning, however often raised) is in the notes."""
    import warnings

    from wnbias import runner
    from wnbias.errors import WnbiasWarning
    from wnbias.experiments import Outcome

    class Warns:
        name = "warns"

        def execute(self, config, progress):
            for _ in range(3):
                warnings.warn("the flow integrates in float64", WnbiasWarning, stacklevel=2)
            return Outcome({}, {}, notes=["a note"])

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda m, *a, **k: shown.append(str(m)))
    outcome = runner._execute(Warns(), None, False)
    assert shown == ["the flow integrates in float64"]
    assert outcome.notes == ["a note", "Warning: the flow integrates in float64"]


def test_progress_in_a_log_file_is_one_named_line_per_phase(tmp_path):
    """stderr not a terminal: no bars (no carriage returns), a line per finished GD run that
    names the experiment and the arm; --quiet: none."""
    args = [sys.executable, "-m", "wnbias.cli", "run", "ewn-simple-traj", "--set", "inits=1,1",
            "--set", "target_log_loss=-10"]
    shown = subprocess.run([*args, "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert shown.returncode == 0 and "\r" not in shown.stderr, shown.stderr
    lines = [line for line in shown.stderr.splitlines() if ": GD: " in line]
    assert sorted(line.split(":")[0] for line in lines) == [
        "ewn-simple-traj ewn", "ewn-simple-traj plain", "ewn-simple-traj swn"]
    quiet = subprocess.run([*args, "--quiet", "--out", str(tmp_path / "b")], capture_output=True,
                           text=True)
    assert quiet.returncode == 0 and ": GD: " not in quiet.stderr
