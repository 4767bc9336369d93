"""Every registered experiment: its smoke preset runs, its claims are well formed, its figures
and claims come back from the store alone, a second run is reused, and a second identical
computation in the same process compiles nothing."""

import json
import subprocess
import sys

import pytest

from wnbias.config import apply_preset, resolve
from wnbias.experiments import EXPERIMENTS
from wnbias.runner import report_run, run_experiment


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_smoke_preset_round_trips_through_the_store(name, smoke_run, compilations):
    assert "smoke" in EXPERIMENTS[name].presets
    record, _ = smoke_run(name)
    assert record.figures  # computed here, or by the other xdist worker and reused
    claims = record.summary["claims"]
    assert claims
    for claim in claims:
        assert set(claim) == {"name", "paper", "measured", "holds", "criterion"}
        assert isinstance(claim["holds"], bool) and claim["name"] and claim["measured"]
    for stem in record.figures:
        (record.run_dir / f"{stem}.png").unlink()  # report must redraw them from the store
    again = report_run(record.run_dir)
    assert again.summary["claims"] == claims
    assert all((record.run_dir / f"{stem}.png").stat().st_size > 0 for stem in record.figures)
    assert run_experiment(name, preset="smoke", root=record.run_dir.parent).reused

    # the same computation again in this process reuses every compiled program: the engines key
    # them by objects the experiments cache (objectives, record functions), not fresh closures
    experiment = EXPERIMENTS[name]
    config = resolve(experiment.config, apply_preset(experiment.presets, "smoke", {}))
    if record.reused:  # the other xdist worker computed it: compile in this process first
        experiment.execute(config)
    with compilations() as compiled:
        experiment.execute(config)
    assert not compiled, (f"{name}: a second identical execute compiled "
                          f"{sum(compiled.values())} programs: {dict(compiled)}")


def _report(path):
    return subprocess.run([sys.executable, "-m", "wnbias.cli", "report", str(path)],
                          capture_output=True, text=True)


def test_report_refuses_what_is_not_a_finished_run(tmp_path):
    proc = _report(tmp_path)
    assert proc.returncode == 2 and "is not a wnbias run directory" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    (tmp_path / "config.json").write_text(json.dumps({"experiment": "ewn-xor"}))
    proc = _report(tmp_path)
    assert proc.returncode == 2 and "unfinished run of ewn-xor" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_refuses_another_version(tmp_path):
    record = run_experiment("ewn-simple-traj", preset="smoke", out=tmp_path / "r")
    outcome = json.loads((record.run_dir / "outcome.json").read_text())
    (record.run_dir / "outcome.json").write_text(json.dumps({**outcome, "version": 0}))
    proc = _report(record.run_dir)
    assert proc.returncode == 2 and "version 0" in proc.stderr and "--force" in proc.stderr
