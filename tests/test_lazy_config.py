"""A config error, and `wnbias list`, without JAX: the registry imports only the experiments'
specs, and the CLI checks a config before the runner (and with it JAX, diffrax, matplotlib and
scipy) is imported."""

import json
import os
import subprocess
import sys

from wnbias.experiments import EXPERIMENTS
from wnbias.experiments.flow_options import SOLVERS, get_solver
from wnbias.names import ACTIVATION_NAMES, INIT_SCHEMES

HEAVY = ("jax", "diffrax", "matplotlib", "scipy")

# Runs each command through cli.main in one fresh process and reports, per command, its exit
# status, its stderr and the heavy modules imported so far.
CASES = r"""
import contextlib, io, json, os, sys
from wnbias import cli
from wnbias.config import describe
from wnbias.experiments import EXPERIMENTS

HEAVY = ("jax", "diffrax", "matplotlib", "scipy")
cases = []
for name, exp in EXPERIMENTS.items():
    cases.append((["run", name, "--set", "no_such_key=1"], 2, "unknown config key"))
    key = next(k for k, kind, _, _ in describe(exp.config) if kind in ("int", "float"))
    cases.append((["run", name, "--set", f"{key}=not-a-number"], 2, "is not a valid"))
cases += [
    (["run", "ewn-xor", "--set", "target_log_loss=1"], 2, "must be negative"),
    (["run", "ewn-simple-traj", "--set", "inits=1,1,1"], 2, "same dimension"),
    (["run", "no-such-experiment"], 2, "unknown experiment"),
    (["run", "ewn-xor", "--preset", "no-such-preset"], 2, "unknown preset"),
    (["reproduce", "no-such-experiment"], 2, "unknown experiment"),
    (["list"], 0, ""),
    (["list", "ewn-xor"], 0, ""),
    (["list", "cisneros-hessian"], 0, ""),
]
results = []
for argv, status, message in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    results.append({"argv": argv, "expected": status, "status": code, "message": message,
                    "stderr": err.getvalue(), "heavy": [m for m in HEAVY if m in sys.modules]})
print(json.dumps({"results": results,
                  "cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR")}))
"""


def test_config_errors_and_list_import_no_jax(tmp_path):
    env = {**os.environ, "WNBIAS_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", CASES], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    results = report["results"]
    assert len(results) == 2 * len(EXPERIMENTS) + 8
    for r in results:
        assert r["status"] == r["expected"], r
        assert r["heavy"] == [], r
        if r["expected"] == 2:
            assert r["stderr"].startswith("wnbias: error: ") and r["message"] in r["stderr"], r
            assert r["stderr"].count("\n") == 1, r
    assert not any(tmp_path.glob("runs*"))  # nothing written for a bad config
    # the compilation cache is set up for JAX to read when it is imported
    assert report["cache_dir"] == str(tmp_path / "cache")


def test_the_compilation_cache_variables_are_the_ones_jax_reads(tmp_path):
    code = ("import sys; from wnbias.cache import MIN_COMPILE_SECONDS, enable_compilation_cache;"
            "path = enable_compilation_cache(); assert 'jax' not in sys.modules;"
            "import jax;"
            "assert jax.config.jax_compilation_cache_dir == str(path), "
            "jax.config.jax_compilation_cache_dir;"
            "assert jax.config.jax_persistent_cache_min_compile_time_secs == MIN_COMPILE_SECONDS")
    env = {**os.environ, "WNBIAS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_light_name_lists_match_the_jax_tables():
    """The specs choose among names kept in light modules; they must be the heavy tables'."""
    from wnbias import initial
    from wnbias.experiments.cisneros_hessian import NORMALIZATIONS
    from wnbias.models.model import ACTIVATIONS, SMOOTH_ACTIVATIONS
    from wnbias.reparam import REPARAMS

    assert ACTIVATION_NAMES == tuple(ACTIVATIONS)
    assert set(SMOOTH_ACTIVATIONS) <= set(ACTIVATION_NAMES)
    assert initial.INIT_SCHEMES == INIT_SCHEMES
    assert set(NORMALIZATIONS.values()) <= set(REPARAMS)
    import diffrax

    for name in SOLVERS:
        assert isinstance(get_solver(name), diffrax.AbstractSolver), name
