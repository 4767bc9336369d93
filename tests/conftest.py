import collections
import contextlib
import fcntl
import os
import tempfile

import jax
import pytest

import wnbias  # noqa: F401  (enables float64 before any test builds arrays)
from wnbias.cache import enable_compilation_cache


def pytest_configure(config):
    """One compilation cache per test session, shared by the xdist workers and the CLI runs in
    subprocesses (via WNBIAS_CACHE_DIR), so a program compiled once is not compiled again;
    never the user's own cache."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    os.environ["WNBIAS_CACHE_DIR"] = os.path.join(tempfile.gettempdir(),
                                                  f"wnbias-test-cache-{run_id}")
    enable_compilation_cache()


@pytest.fixture
def compilations():
    """``with compilations() as compiled``: a Counter of the XLA programs compiled inside, by
    name. JAX records the event for every program missing from its in-memory cache, also one
    then read from the persistent cache; a program loaded from wnbias's store is not one."""

    @contextlib.contextmanager
    def count():
        compiled = collections.Counter()

        def listen(event, duration, **kwargs):
            if event == "/jax/core/compile/backend_compile_duration":
                compiled[kwargs.get("fun_name", "?")] += 1

        jax.monitoring.register_event_duration_secs_listener(listen)
        try:
            yield compiled
        finally:
            jax.monitoring.unregister_event_duration_listener(listen)

    return count


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``smoke_run(name)``: the experiment's smoke preset run once per session through the
    runner and the store, as ``(record, stored outcome)``."""
    from wnbias import store
    from wnbias.runner import run_experiment

    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:  # xdist workers share one root: a smoke run is computed once, then reused
        root = tmp_path_factory.getbasetemp().parent / f"smoke-{run_id}"
        root.mkdir(exist_ok=True)
    else:
        root = tmp_path_factory.mktemp("smoke")
    cache = {}

    def get(name):
        if name not in cache:
            with open(root / f"{name}.lock", "w") as lock:  # the other worker waits, reuses
                fcntl.flock(lock, fcntl.LOCK_EX)
                record = run_experiment(name, preset="smoke", root=root)
            cache[name] = (record, store.read_outcome(record.run_dir)[0])
        return cache[name]

    return get
