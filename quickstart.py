#!/usr/bin/env python3
"""Set up wnbias in ./.venv (first use, or when pyproject.toml changed) and run a command.

    python3 quickstart.py reproduce      # the headline experiments -> runs/report.md
    python3 quickstart.py test           # the test suite (fast; add -m slow for full runs)
    python3 quickstart.py run ewn-xor --set n_seeds=16   # any other wnbias command

Needs only Python 3.11+ with pip; every dependency comes from PyPI via pyproject.toml.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".wnbias-installed"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (an older python3 may run this)
        sys.exit(f"wnbias needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not venv_python().exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != digest:
        print("installing wnbias and its dependencies into .venv ...", flush=True)
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
        STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    ensure_environment()
    python = str(venv_python())
    if argv[0] == "test":
        command = [python, "-m", "pytest", *argv[1:]]
    else:
        command = [python, "-m", "wnbias.cli", *argv]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
