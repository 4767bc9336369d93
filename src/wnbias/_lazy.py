"""Public names imported on first use (PEP 562), for the package and its subpackages."""

import importlib
import sys


def lazy_exports(module: str, public: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``module``, whose names in ``public`` (name: relative
    module) load on first use: importing it loads nothing else."""
    namespace = sys.modules[module].__dict__

    def __getattr__(name: str):
        if name in public:
            value = getattr(importlib.import_module(public[name], module), name)
            namespace[name] = value  # later lookups skip this function
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*namespace, *public})

    return __getattr__, __dir__
