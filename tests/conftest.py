import pytest

import wnbias  # noqa: F401  (enables float64 before any test builds arrays)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``smoke_run(name)``: the experiment's smoke preset run once per session through the
    runner and the store, as ``(record, stored outcome)``."""
    from wnbias import store
    from wnbias.runner import run_experiment

    root = tmp_path_factory.mktemp("smoke")
    cache = {}

    def get(name):
        if name not in cache:
            record = run_experiment(name, preset="smoke", root=root)
            cache[name] = (record, store.read_outcome(record.run_dir)[0])
        return cache[name]

    return get


def pytest_collection_modifyitems(items):
    """Tests that use ``smoke_run`` share one xdist worker, so its session cache is shared."""
    for item in items:
        if "smoke_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("smoke"))
