"""Experiment configs: frozen dataclasses composed of blocks, overridable from strings.

A config field is a scalar (``int``, ``float``, ``str``, ``bool``), a tuple ``tuple[T, ...]``
(comma-separated, non-empty), or a **block**: another frozen config dataclass, whose fields are
set with dotted keys (``--set gd.ewn.frac=5``, ``--set flow.rtol=1e-10``). Shared blocks (the GD
schedule, the flow solver, ...) live with the experiments; this module only parses, checks and
describes. Values are parsed by the field's type: bools take true/false/1/0/yes/no. A field's
metadata may constrain it: ``positive`` (> 0), ``nonnegative`` (>= 0), ``choices`` or
``distinct`` (no repeated values); :func:`field` builds such fields. Any config class or block
may add a ``check()`` method for constraints between its fields.

A **preset** is data: a named dict of overrides (key -> text, as on the command line) applied
before the user's own.
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


# Every integer key (seeds, sizes, step budgets) fits a C int: seeds feed NumPy's RandomState
# (< 2^32, with offsets added) and budgets JAX's int32 counters.
INT_LIMIT = 2**31 - 1


def field(default, *, positive=False, nonnegative=False, choices=None, distinct=False, doc=""):
    """A config field with its constraints and a one-line description.

    ``distinct``: a tuple whose values must not repeat (implied by ``choices``).
    """
    metadata = {"positive": positive, "nonnegative": nonnegative, "choices": choices,
                "distinct": distinct or choices is not None, "doc": doc}
    return dataclasses.field(default=default, metadata=metadata)


def block(default, doc: str = ""):
    """A nested config block (a frozen config dataclass instance) as a field."""
    return dataclasses.field(default=default, metadata={"doc": doc})


def _is_block(tp) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


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


def _fields(config_cls) -> dict[str, tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(config_cls)}


def keys(config_cls, prefix: str = "") -> list[str]:
    """Every settable dotted key of ``config_cls``."""
    out = []
    for name, (_, tp) in _fields(config_cls).items():
        out += keys(tp, f"{prefix}{name}.") if _is_block(tp) else [f"{prefix}{name}"]
    return out


def _check(key: str, value, f: dataclasses.Field) -> None:
    meta = f.metadata
    if isinstance(value, tuple):
        if not value:
            raise ConfigError(f"{key} needs at least one value (comma-separated)")
        if meta.get("distinct") and len(set(value)) != len(value):
            raise ConfigError(f"{key}={','.join(map(str, value))} repeats a value")
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT_LIMIT:
            raise ConfigError(f"{key}={v} is out of range: integer keys lie within "
                              f"+-{INT_LIMIT} (2^31 - 1)")
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{key}={v} must be finite")
        if meta.get("positive") and not v > 0:
            raise ConfigError(f"{key}={v} must be positive")
        if meta.get("nonnegative") and not v >= 0:
            raise ConfigError(f"{key}={v} must be non-negative")
        if meta.get("choices") and v not in meta["choices"]:
            raise ConfigError(f"{key}={v!r} is not allowed; allowed: {', '.join(meta['choices'])}")


def validate(config, prefix: str = "") -> None:
    """Check every field (blocks recursively, their keys dotted) against its metadata, then each
    block's and the config's own ``check()`` (constraints between fields)."""
    for name, (f, tp) in _fields(type(config)).items():
        value = getattr(config, name)
        if _is_block(tp):
            validate(value, f"{prefix}{name}.")
        else:
            _check(f"{prefix}{name}", value, f)
    if hasattr(config, "check"):
        config.check()


def _build(config_cls, base, overrides: Mapping[str, str], prefix: str, all_keys):
    fields = _fields(config_cls)
    values, nested = {}, {}
    for key, text in overrides.items():
        head, dot, rest = key.partition(".")
        if head not in fields or bool(dot) != _is_block(fields[head][1]):
            raise ConfigError(f"unknown config key {prefix + key!r}; allowed: "
                              f"{', '.join(all_keys)}")
        if dot:
            nested.setdefault(head, {})[rest] = text
        else:
            values[head] = parse_value(prefix + key, text, fields[head][1])
    for head, sub in nested.items():
        values[head] = _build(fields[head][1], getattr(base, head), sub, f"{prefix}{head}.",
                              all_keys)
    return dataclasses.replace(base, **values)


def resolve(config_cls, overrides: Mapping[str, str] | None = None):
    """The default ``config_cls`` with ``overrides`` (dotted key -> text) parsed, applied and
    checked."""
    config = _build(config_cls, config_cls(), overrides or {}, "", keys(config_cls))
    validate(config)
    return config


def apply_preset(presets: Mapping[str, Mapping[str, str]], name: str | None,
                 overrides: Mapping[str, str] | None) -> dict[str, str]:
    """The preset's overrides, then the user's on top; an unknown preset is a ConfigError."""
    if name is None:
        return dict(overrides or {})
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; allowed: {', '.join(presets)}")
    return {**presets[name], **(overrides or {})}


def describe(config_cls, prefix: str = "", base=None) -> list[tuple[str, str, Any, str]]:
    """(dotted key, type, default, doc) for every field, for ``wnbias list NAME``."""
    base = config_cls() if base is None else base
    rows = []
    for name, (f, tp) in _fields(config_cls).items():
        value = getattr(base, name)
        if _is_block(tp):
            rows += describe(tp, f"{prefix}{name}.", value)
        else:
            rows.append((f"{prefix}{name}", _type_name(tp), value, f.metadata.get("doc", "")))
    return rows


def to_dict(config) -> dict[str, Any]:
    """A JSON-ready nested dict (tuples become lists)."""

    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def from_dict(config_cls, data: Mapping[str, Any]):
    """The config that :func:`to_dict` wrote (lists become tuples again); unknown or missing keys
    are a ConfigError, so a stored run of another version of an experiment is recognized."""
    fields = _fields(config_cls)
    unknown = sorted(set(data) - set(fields))
    missing = sorted(set(fields) - set(data))
    if unknown or missing:
        raise ConfigError(f"config does not match {config_cls.__qualname__}: "
                          f"unknown {unknown}, missing {missing}")
    values = {}
    for name, (_, tp) in fields.items():
        value = data[name]
        if _is_block(tp):
            value = from_dict(tp, value)
        elif typing.get_origin(tp) is tuple:
            value = tuple(value)
        values[name] = value
    return config_cls(**values)
