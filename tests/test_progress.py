"""Progress lines: named by experiment and run, a bar only on a terminal."""

import io

from wnbias import progress


def test_a_finished_phase_is_one_named_line_without_a_terminal(monkeypatch):
    err = io.StringIO()  # not a terminal: no bar, no carriage returns
    monkeypatch.setattr("sys.stderr", err)
    with progress.experiment("ewn-xor"), progress.Phase("ewn", "GD", enabled=True) as phase:
        for done in range(0, 5000, 100):
            phase.update(done, log_loss="-3.0")
        phase.finish("5000 steps, log-loss -50.0")
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "\r" not in err.getvalue()
    assert lines[0].startswith("ewn-xor ewn: GD: 5000 steps, log-loss -50.0 (")


def test_quiet_shows_nothing(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with progress.Phase("ewn", "GD", enabled=False) as phase:
        phase.update(10)
        phase.finish("10 steps")
    assert err.getvalue() == ""


def test_a_terminal_gets_a_bar_that_goes_and_the_line_that_stays(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    with progress.Phase("", "flow", enabled=True) as phase:
        assert phase.bar is not None
        phase.update(3)
        phase.finish("3 solver steps")
    assert phase.bar is None and err.getvalue().rstrip().endswith("s)")
    assert "flow: 3 solver steps (" in err.getvalue()
