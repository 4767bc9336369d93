"""Errors a user can fix. The CLI prints their one-line message and exits with status 2."""


class UserError(Exception):
    """Bad input: an unknown name, an ill-typed or out-of-range value, missing data."""


class ConfigError(UserError, ValueError):
    """An unknown config key, or a value of the wrong type or range."""


class RunStopped(UserError):
    """A run stopped before its end; ``partial`` holds the trajectory computed until then."""

    def __init__(self, message: str, partial=None):
        super().__init__(message)
        self.partial = partial


class NonFiniteLossError(RunStopped):
    """The loss became NaN or infinite."""


class SolverFailure(RunStopped):
    """The ODE solver gave up (step size underflow, max_steps)."""


class WnbiasWarning(UserWarning):
    """A condition the run survives but a user should know of before waiting for it (an rPGD
    step past its stability guard). The CLI prints it as one line ``wnbias: warning: ...``."""
