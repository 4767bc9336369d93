"""Compiled programs kept across processes, found before they are traced.

JAX's persistent compilation cache (:mod:`wnbias.cache`) keeps XLA's output, but a process
must still trace and lower a program before it can look it up: a diffrax solve costs about a
second of that, and the reproduce of the five EWN experiments spent 22 of its 30 s warm doing
so. :func:`call` looks the executable up by a key computed without lowering, and on a hit
deserializes it: no tracing (given a ``fingerprint``), no lowering, no compilation.

The key is a SHA-256 of everything that determines the program, never of a value a run
computes: the library's own source (every ``.py`` file of the package), the versions of Python
and of the numerical packages, JAX's configuration (x64, matmul precision, ...), the XLA and
equinox environment variables, the backend and the host CPU, the function, its static
arguments, and the shapes, dtypes and tree structure of its arguments. The static arguments
and the function are described by ``fingerprint`` strings (e.g. the jaxprs of the callables a
solve is built from, on the call's abstract arguments) or, without one, by the jaxpr of the
whole traced program. Only a fresh compilation is kept: not one that holds host callbacks (or
any custom call but LAPACK's, whose kernels :func:`_load` binds), nor constants the executable
cannot carry, nor one JAX's cache loaded (XLA:CPU serializes that again without all its
functions). Entries are written atomically (a temporary file
renamed), so processes may share the directory; an unreadable entry is compiled again.

The store is ``wnbias-programs/`` inside JAX's cache directory, so it is on exactly when that
cache is (``WNBIAS_CACHE_DIR=off`` turns both off); without it :func:`call` is jit with its
in-process cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.experimental import serialize_executable

_PACKAGES = ("jax", "jaxlib", "numpy", "diffrax", "equinox", "lineax", "optimistix")
_ENVIRONMENT_PREFIXES = ("XLA_", "EQX_", "JAX_", "TF_CPP_")
_MEMORY: dict[Any, Any] = {}  # this process's programs, by their in-process key


def call(fun, args: tuple, statics: dict,
         fingerprint: Callable[[], tuple[str, ...]] | None = None, *,
         options: dict[str, Any] | None = None):
    """``fun(*args, **statics)`` for a ``jax.jit`` function ``fun`` with ``statics`` its static
    keyword arguments, run by the compiled program found in this process's memory, else in
    the store (see the module), else traced, compiled and kept.

    ``fingerprint()``: strings that determine the program ``fun`` builds from ``statics`` (the
    arguments' structure is added here), asked for only when the store is on; without it the
    program's own jaxpr is the fingerprint, which costs a trace but no lowering. A stored
    program that fails to run (a damaged entry) is deleted, compiled again and run.
    ``options``: XLA compile options of this program (e.g. :data:`FAST_COMPILING`), part of
    its key.
    """
    options = options or {}
    leaves, tree = jax.tree.flatten(args)
    avals = tuple(str(jax.typeof(leaf)) for leaf in leaves)
    memory_key = (fun, tuple(sorted(statics.items(), key=lambda kv: kv[0])), tree, avals,
                  tuple(sorted(options.items())))
    program = _MEMORY.get(memory_key)
    if program is not None:
        return program(*args)
    store = _store()
    traced = None
    path = None
    if store is not None:
        if fingerprint is None:
            traced = fun.trace(*args, **statics)
            parts = (_jaxpr_text(traced.jaxpr),)
        else:
            parts = fingerprint()
        path = store / _key(fun, (*parts, repr(sorted(options.items()))), tree, avals)
    program = _load(path) if path else None
    if program is not None:
        try:
            out = program(*args)
        except jax.errors.JaxRuntimeError:
            path.unlink(missing_ok=True)
        else:
            _MEMORY[memory_key] = program
            return out
    if traced is None:
        traced = fun.trace(*args, **statics)
    hits = _jax_cache_hits()
    if path is None:
        program = traced.lower().compile(compiler_options=options or None)
    else:
        with _unwritten_by_jax():
            program = traced.lower().compile(compiler_options={**_APART_FROM_JAX, **options})
    # Only a fresh compilation is kept: XLA:CPU re-serializes an executable that JAX's own
    # cache loaded without all of its functions (it then fails to run in a new process).
    if path and _jax_cache_hits() == hits:
        _save(path, program)
    _MEMORY[memory_key] = program
    return program(*args)


# JAX's cache neither holds nor answers for what the store keeps. A program JAX's cache
# holds would be loaded from it whenever the store misses it (after any edit of the library,
# which changes every key), and such a loaded executable cannot be stored: the program would
# be traced and lowered in every process from then on. So the store's programs are compiled
# with an XLA option restated at its value (xla_detailed_logging is on for every program of
# 10 operations or more, and only logs), which gives them keys of their own in JAX's cache,
# and JAX writes none of them (_unwritten_by_jax).
_APART_FROM_JAX = {"xla_detailed_logging": True}

# XLA:CPU's fusion emitters (its default in jaxlib 0.10) make each scalar operation of a loop
# a kernel of its own (a ``wrapped_`` fusion) and take about twice as long as its earlier LLVM
# emitters to compile a diffrax solve or a GD loop (ewn-conv-rate's smoke run: 14.6 s against
# 7.5 s of compilation), for programs that run as fast. Their code differs in places within an
# ulp (single element-wise functions came out the same; which fused code differs was not
# traced): the EWN experiments' metrics came out bitwise the same or within 6e-14 relative,
# the others' within rounding amplified by adaptive step control (README, Quick start). Used
# for the GD and flow loops only: cisneros-hessian's Hessian programs compile slower with it.
FAST_COMPILING = {"xla_cpu_use_fusion_emitters": False}


_UNWRITTEN = {"inside": 0, "before": None}  # compilations inside, the setting before them
_UNWRITTEN_LOCK = threading.Lock()


@contextlib.contextmanager
def _unwritten_by_jax():
    """JAX's cache writes no program compiled inside (see ``_APART_FROM_JAX``); threads may
    compile side by side (the setting comes back when the last one is done)."""
    option = "jax_persistent_cache_min_compile_time_secs"
    with _UNWRITTEN_LOCK:
        if _UNWRITTEN["inside"] == 0:
            _UNWRITTEN["before"] = getattr(jax.config, option)
            jax.config.update(option, float("inf"))
        _UNWRITTEN["inside"] += 1
    try:
        yield
    finally:
        with _UNWRITTEN_LOCK:
            _UNWRITTEN["inside"] -= 1
            if _UNWRITTEN["inside"] == 0:
                jax.config.update(option, _UNWRITTEN["before"])


_HITS = threading.local()  # JAX's cache hits of this thread's compilations


def _jax_cache_hits() -> int:
    return getattr(_HITS, "count", 0)


def _count_jax_cache_hits(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _HITS.count = _jax_cache_hits() + 1


jax.monitoring.register_event_listener(_count_jax_cache_hits)


def one_seed(tree):
    """The shapes and dtypes of one seed of ``tree`` (arrays with a leading seed axis), as
    ``jax.ShapeDtypeStruct``: what a fingerprint traces a per-seed function on."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a)[1:], a.dtype), tree)


def fingerprint_of(fn, *args) -> str:
    """The jaxpr of ``fn(*args)`` (arrays or ``jax.ShapeDtypeStruct``) with its constants: what
    a callable computes on arguments of these shapes, as a key."""
    return traced(fn, *args)[0]


def traced(fn, *args) -> tuple[str, Any]:
    """(:func:`fingerprint_of` ``fn(*args)``, the shapes of its output as
    ``jax.ShapeDtypeStruct``), by one trace."""
    closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
    return _jaxpr_text(closed), shapes


def _jaxpr_text(closed) -> str:
    consts = hashlib.sha256()
    for c in closed.consts:
        a = np.asarray(c)
        consts.update(repr((a.shape, str(a.dtype))).encode())
        consts.update(a.tobytes())
    return f"{closed.jaxpr}\nconsts {consts.hexdigest()}"


def _store() -> Path | None:
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / "wnbias-programs" if directory else None


def _key(fun, fingerprint, tree, avals) -> str:
    h = hashlib.sha256(_installation().encode())
    config = sorted((k, repr(v)) for k, v in jax.config.values.items() if "cache" not in k)
    # a JAX_ variable that names an option is in the config already (and JAX_ENABLE_X64 is set
    # only when wnbias is imported before JAX): the same program whichever came first
    environment = sorted((k, v) for k, v in os.environ.items()
                         if k.startswith(_ENVIRONMENT_PREFIXES) and "CACHE" not in k
                         and k.lower() not in jax.config.values)
    for part in (config, environment, f"{fun.__module__}.{fun.__qualname__}", *fingerprint,
                 str(tree), avals):
        h.update(repr(part).encode())
        h.update(b"\0")
    return h.hexdigest()


@functools.cache
def _installation() -> str:
    """The library's source, the packages' versions, the backend and the CPU, hashed."""
    h = hashlib.sha256(sys.version.encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for name in _PACKAGES:
        try:
            h.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name} absent".encode())
    device = jax.devices()[0]
    h.update(repr((device.platform, device.device_kind, device.client.platform_version,
                   jax.device_count())).encode())
    h.update(_cpu().encode())
    return h.hexdigest()


def _cpu() -> str:
    """The host CPU's model and instruction-set flags (an executable is compiled for them)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        import platform

        return platform.processor() + platform.machine()
    return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))


def _load(path: Path):
    try:
        payload, in_tree, out_tree, uses_lapack = pickle.loads(path.read_bytes())
        if uses_lapack:
            _bind_lapack()
        return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
    except Exception:  # absent, damaged or foreign: compile again, and overwrite it
        return None


def _bind_lapack() -> None:
    """Bind the LAPACK kernels that a program's custom calls jump to. JAX binds them while it
    lowers a program that uses them; a loaded program skips the lowering, and without this it
    jumps to a null pointer (a segmentation fault, seen with an SVD). jax.export does the
    same for the programs it loads."""
    from jax._src.lax import linalg

    linalg.initialize_lapack()


def _save(path: Path, program) -> None:
    # A custom call other than LAPACK's (a host callback, say) may need what only tracing and
    # lowering set up (see _bind_lapack): such a program is kept in memory only.
    targets = set(re.findall(r'custom_call_target="([^"]+)"', program.as_text()))
    if any(not t.startswith("lapack_") for t in targets):
        return
    try:
        blob = pickle.dumps((*serialize_executable.serialize(program), bool(targets)))
    except Exception:  # constants or trees the executable cannot carry: keep it in memory only
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
            f.write(blob)
        os.replace(f.name, path)
    except OSError:
        pass  # a full or read-only disk costs the next process a compilation, nothing else
