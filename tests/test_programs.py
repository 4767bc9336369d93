"""The store of compiled programs (wnbias.programs): a new process finds a kept program
without compiling, gives the same numbers, never serves a program whose fingerprint or
shapes differ, and compiles again over a damaged entry."""

import json
import os
import re
import subprocess
import sys

# A fresh process: a flow solve (fingerprinted) and a GD run (keyed by its jaxpr) whose record
# holds an SVD (a LAPACK custom call, whose kernel a loaded program must find bound), printing
# their results and how many XLA compilations it made.
PROBE = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
import wnbias
from wnbias.dynamics.flow import TimeClock, run_flow
from wnbias.dynamics.gd import run_gd
from wnbias.dynamics.schedules import constant
compiles = [0]
def on(event, duration, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        compiles[0] += 1
jax.monitoring.register_event_duration_secs_listener(on)
n, scale = int(sys.argv[1]), float(sys.argv[2])
X = np.linspace(-1.0, 1.0, 2 * n).reshape(n, 2) + np.eye(n, 2)
y = np.sign(X[:, 0] + 0.5)
def log_loss(theta, X, y):
    return jnp.log(jnp.mean(jnp.exp(-scale * y * (X @ theta["w"]))))
theta0 = {"w": jnp.full(2, 0.1)}
flow = run_flow(log_loss, theta0, (X, y), TimeClock(t_end=5.0), n_save=8)
def record(theta):
    return {"s": jnp.linalg.svd(jnp.outer(theta["w"], X[0]), compute_uv=False)[0]}
gd = run_gd(log_loss, theta0, (X, y), constant(0.1), max_steps=50, n_log=8, record=record)
print(json.dumps({"compiles": compiles[0],
                  "flow": np.asarray(flow.trajectory.series["log_loss"]).tolist(),
                  "gd": np.asarray(gd.trajectory.series["log_loss"]).tolist(),
                  "svd": np.asarray(gd.trajectory.series["s"]).tolist()}))
"""


def _probe(cache, n=6, scale=1.0, installation="") -> dict:
    # JAX_* variables are part of every store key, and JAX ignores one it does not know: a
    # new value stands for a new installation of the library (every key changes, programs not)
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(cache),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_WNBIAS_TEST_INSTALLATION": installation}
    done = subprocess.run([sys.executable, "-c", PROBE, str(n), str(scale)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_kept_programs_are_found_by_a_new_process_and_only_for_their_own_program(tmp_path):
    one = _probe(tmp_path)
    kept = list((tmp_path / "wnbias-programs").iterdir())
    assert len(kept) >= 2  # the solve and the GD loop

    two = _probe(tmp_path)  # the solve and GD loaded; eager one-op programs from JAX's cache
    assert two["flow"] == one["flow"] and two["gd"] == one["gd"] and two["svd"] == one["svd"]
    assert two["compiles"] <= one["compiles"] - 2

    scaled = _probe(tmp_path, scale=2.0)  # same shapes, another constant in the objective
    assert scaled["flow"][0] != one["flow"][0] and scaled["gd"] != one["gd"]
    assert scaled["compiles"] >= 2

    for entry in (tmp_path / "wnbias-programs").iterdir():
        entry.write_bytes(b"not a program")
    damaged = _probe(tmp_path)  # compiled again over the damaged entries, same numbers
    assert damaged["flow"] == one["flow"] and damaged["gd"] == one["gd"]


def test_after_a_new_installation_the_programs_are_kept_again(tmp_path):
    _probe(tmp_path)
    kept = set((tmp_path / "wnbias-programs").iterdir())
    # every store key is new; JAX's cache must not answer for the programs instead (what it
    # loads cannot be stored: they would be traced and lowered in every process from then on)
    _probe(tmp_path, installation="upgraded")
    again = set((tmp_path / "wnbias-programs").iterdir()) - kept
    assert len(again) >= 2
    upgraded = _probe(tmp_path, installation="upgraded")
    assert upgraded["compiles"] <= _probe(tmp_path / "fresh")["compiles"] - 2


def test_a_program_has_one_key_whether_jax_or_wnbias_was_imported_first():
    """JAX_ENABLE_X64 is in the environment only when wnbias was imported before JAX; the
    option itself is in JAX's config either way, so the key must not depend on the variable."""
    import jax

    from wnbias import programs

    def key():
        return programs._key(run_key_probe, ("fingerprint",), "tree", ("f64[3]",))

    saved = os.environ.pop("JAX_ENABLE_X64", None)
    try:
        without = key()
        os.environ["JAX_ENABLE_X64"] = "1"
        assert key() == without
        os.environ["EQX_ON_ERROR"], before = "raise", os.environ.get("EQX_ON_ERROR")
        try:  # a variable that is no JAX option still changes the key
            assert key() != without
        finally:
            if before is None:
                del os.environ["EQX_ON_ERROR"]
            else:
                os.environ["EQX_ON_ERROR"] = before
    finally:
        os.environ.pop("JAX_ENABLE_X64", None)
        if saved is not None:
            os.environ["JAX_ENABLE_X64"] = saved
    assert jax.config.jax_enable_x64


def run_key_probe():  # a function to key
    pass


def test_the_gd_and_flow_loops_are_compiled_with_the_fast_compiling_emitters(monkeypatch):
    """``FAST_COMPILING`` reaches XLA: with the fusion emitters (the default) a scalar add in a
    loop is a kernel of its own (a ``wrapped_`` fusion), with the earlier emitters it is not;
    run_gd's and run_flow's programs must show the latter."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from wnbias import programs
    from wnbias.dynamics import flow, gd
    from wnbias.dynamics.flow import TimeClock, run_flow
    from wnbias.dynamics.gd import run_gd
    from wnbias.dynamics.schedules import constant

    monkeypatch.setattr(programs, "_store", lambda: None)  # compiled here, not loaded

    @jax.jit
    def count(x):
        return jax.lax.fori_loop(0, 3, lambda i, v: v + 1.0, x)

    def compiled(fun, options):
        programs.call(fun, (np.zeros(4),), {}, options=options)
        return next(p for k, p in programs._MEMORY.items()
                    if k[0] is fun and k[-1] == tuple(sorted((options or {}).items())))

    def scalar_kernels(program) -> int:
        return len(re.findall(r"calls=%wrapped_", program.as_text()))

    assert scalar_kernels(compiled(count, None)) > 0  # the observable means something
    assert scalar_kernels(compiled(count, programs.FAST_COMPILING)) == 0

    def log_loss(theta, x):  # a function of this test's own: its programs are fresh
        return jnp.log(jnp.mean(jnp.exp(-x @ theta["w"])))

    x, theta0 = np.eye(3, 2) + 0.5, {"w": jnp.full(2, 0.1)}
    run_gd(log_loss, theta0, (x,), constant(0.1), max_steps=20, n_log=4)
    run_flow(log_loss, theta0, (x,), TimeClock(t_end=1.0), n_save=4)
    loops = [p for k, p in programs._MEMORY.items() if k[0] in (gd._run_chunk, flow._solve)
             and any(v is log_loss for _, v in k[1])]
    assert len(loops) == 2
    assert [scalar_kernels(p) for p in loops] == [0, 0]
