"""Experiment configs: frozen dataclasses, overridable from strings (``--set key=value``).

Values are parsed by the field's type: ``int``, ``float``, ``str``, ``bool`` (true/false/1/0/
yes/no) and ``tuple[T, ...]`` (comma-separated, non-empty). A field's metadata may constrain it:
``positive`` (> 0), ``nonnegative`` (>= 0), ``choices`` or ``distinct`` (no repeated values);
:func:`field` builds such fields. A config class may add a ``check()`` method for constraints
between fields.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def field(default, *, positive=False, nonnegative=False, choices=None, distinct=False, doc=""):
    """A config field with its constraints and a one-line description.

    ``distinct``: a tuple whose values must not repeat (implied by ``choices``).
    """
    metadata = {"positive": positive, "nonnegative": nonnegative, "choices": choices,
                "distinct": distinct or choices is not None, "doc": doc}
    return dataclasses.field(default=default, metadata=metadata)


def _type_name(tp) -> str:
    if typing.get_origin(tp) is tuple:
        return f"comma-separated list of {typing.get_args(tp)[0].__name__}"
    return tp.__name__


def _parse_scalar(key: str, text: str, tp) -> Any:
    text = text.strip()
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"{key}={text!r} is not a bool; allowed: true, false")
    if tp is str:
        return text
    try:
        return tp(text)
    except ValueError:
        raise ConfigError(f"{key}={text!r} is not a valid {tp.__name__}") from None


def parse_value(key: str, text: str, tp) -> Any:
    """Parse ``text`` as a value of type ``tp`` for config key ``key``."""
    if typing.get_origin(tp) is tuple:
        inner = typing.get_args(tp)[0]
        return tuple(_parse_scalar(key, part, inner) for part in text.split(",") if part.strip())
    return _parse_scalar(key, text, tp)


def _check(key: str, value, f: dataclasses.Field) -> None:
    meta = f.metadata
    if isinstance(value, tuple):
        if not value:
            raise ConfigError(f"{key} needs at least one value (comma-separated)")
        if meta.get("distinct") and len(set(value)) != len(value):
            raise ConfigError(f"{key}={','.join(map(str, value))} repeats a value")
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}={v} must be finite")
        if meta.get("positive") and not v > 0:
            raise ConfigError(f"{key}={v} must be positive")
        if meta.get("nonnegative") and not v >= 0:
            raise ConfigError(f"{key}={v} must be non-negative")
        if meta.get("choices") and v not in meta["choices"]:
            raise ConfigError(f"{key}={v!r} is not allowed; allowed: {', '.join(meta['choices'])}")


def validate(config) -> None:
    """Check every field against its metadata, then the config's own ``check()`` if it has one
    (constraints between fields, raising :class:`ConfigError`)."""
    for f in dataclasses.fields(config):
        _check(f.name, getattr(config, f.name), f)
    if hasattr(config, "check"):
        config.check()


def resolve(config_cls, overrides: Mapping[str, str] | None = None):
    """The default ``config_cls`` with ``overrides`` (key -> text) parsed and applied."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    values = {}
    for key, text in (overrides or {}).items():
        if key not in fields:
            raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(fields)}")
        values[key] = parse_value(key, text, hints[key])
    config = config_cls(**values)
    validate(config)
    return config


def describe(config_cls) -> list[tuple[str, str, Any, str]]:
    """(key, type, default, doc) for every field, for ``wnbias list``."""
    hints = typing.get_type_hints(config_cls)
    return [
        (f.name, _type_name(hints[f.name]), f.default, f.metadata.get("doc", ""))
        for f in dataclasses.fields(config_cls)
    ]


def to_dict(config) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    items = dataclasses.asdict(config).items()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in items}
