"""Timing helpers shared by the benchmark scripts: compile time, timed calls, the environment.

The scripts import this as ``from timing import ...`` (they add their own folder to
``sys.path``). jax is imported only inside the functions, never at import time, so a script can
import this module before it sets ``XLA_FLAGS`` or ``JAX_PLATFORMS`` and still have them apply.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable

_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class CompileTimer:
    """Seconds JAX spent tracing, lowering and compiling since the last ``reset``.

    Each ``jax.monitoring`` event arrives when its phase ends, with its duration; the phases are
    kept as time intervals and their union is counted, so that a phase nested in another (none
    was seen here) could not be subtracted twice.
    """

    def __init__(self) -> None:
        import jax

        self.intervals: list[tuple[float, float]] = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs) -> None:
        if event in _COMPILE_EVENTS:
            end = time.perf_counter()
            self.intervals.append((end - duration, end))

    def reset(self) -> None:
        self.intervals = []

    @property
    def seconds(self) -> float:
        total, reach = 0.0, -math.inf
        for start, end in sorted(self.intervals):
            total += max(end - max(start, reach), 0.0)
            reach = max(reach, end)
        return total


def timed_call(fn: Callable[[], object], compile_timer: CompileTimer) -> tuple[object, dict]:
    """``fn()`` with its wall time, process CPU time and JAX compile time.

    The sample is ``{"wall_s", "compile_s", "run_s", "cpu_s"}``; ``run_s`` is the wall time less
    the compile time.
    """
    compile_timer.reset()
    cpu0, start = time.process_time(), time.perf_counter()
    out = fn()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    compile_s = compile_timer.seconds
    return out, {"wall_s": wall, "compile_s": compile_s, "run_s": wall - compile_s,
                 "cpu_s": cpu}


def environment() -> dict:
    """Versions, backend, CPU and ``XLA_FLAGS`` of this process (``torch`` None if absent)."""
    import jax

    env = {
        "python": platform.python_version(), "jax": jax.__version__,
        "jax_backend": jax.default_backend(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "processor": platform.processor() or None,
        "xla_flags": os.environ.get("XLA_FLAGS"),
    }
    try:
        import torch

        env["torch"] = torch.__version__
    except ImportError:
        env["torch"] = None
    return env
