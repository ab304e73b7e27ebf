"""Validated frozen dataclasses from decoded YAML: types, ranges, choices and unknown keys, every problem named.

:func:`build` walks a dataclass's fields (nested dataclasses, ``dict[str, float]``, ``tuple[str, ...]``,
bool, int, float, str) and appends ``path.key: reason`` to ``problems`` for each bad value; field
metadata adds ``lo``/``hi`` (:func:`bounds`), ``choices`` and ``divides``.  The agent's schema is
:mod:`agent.config`'s; the web config reuses :func:`show`.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import typing
from typing import Any

_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlist = _short.maxdict = 4
_short.maxlevel = 2


def show(value: Any) -> str:
    """A bounded repr for messages: YAML aliases can make a small file decode to a huge structure."""
    return _short.repr(value)


def bounds(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict[str, Any]:
    return {"lo": lo, "hi": hi, "lo_open": lo_open}


def _convert(value: Any, typ: Any, path: str, problems: list[str]) -> Any:
    """Check ``value`` against a field type; return the converted value or None on error."""
    if dataclasses.is_dataclass(typ):
        return build(typ, value, path, problems)
    origin = typing.get_origin(typ)
    if origin is dict:  # dict[str, float]
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problems.append(f"{path}: must be a mapping of names to numbers")
            return None
        out = {k: _convert(v, float, f"{path}.{k}", problems) for k, v in value.items()}
        return None if any(v is None for v in out.values()) else out
    if origin is tuple:  # tuple[str, ...]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"{path}: must be a list of strings")
            return None
        return tuple(value)
    if typ is bool:
        if not isinstance(value, bool):
            problems.append(f"{path}: must be true or false, got {show(value)}")
            return None
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: must be an integer, got {show(value)}")
            return None
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: must be a number, got {show(value)}")
            return None
        try:
            return float(value)
        except OverflowError:  # an integer with hundreds of digits
            problems.append(f"{path}: number out of range, got {show(value)}")
            return None
    if typ is str:
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string, got {show(value)}")
            return None
        return value
    raise TypeError(f"unsupported config type {typ} at {path}")  # programming error


def _check_meta(value: Any, meta: typing.Mapping[str, Any], path: str, problems: list[str]) -> None:
    if "divides" in meta and isinstance(value, int) and value > 0 and meta["divides"] % value:
        problems.append(f"{path}: must divide {meta['divides']}, got {value}")
    if "choices" in meta and value not in meta["choices"]:
        problems.append(f"{path}: must be one of {', '.join(meta['choices'])}, got {show(value)}")
    if isinstance(value, float) and math.isnan(value):  # NaN passes every range comparison
        problems.append(f"{path}: must be a number, got NaN")
        return
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value < lo or (meta.get("lo_open") and value == lo)):
        problems.append(f"{path}: must be {'>' if meta.get('lo_open') else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        problems.append(f"{path}: must be <= {hi}, got {value}")


def build(cls: Any, data: Any, path: str, problems: list[str]) -> Any:
    prefix = f"{path}." if path else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path or 'top level'}: must be a mapping, got {type(data).__name__}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            problems.append(f"{prefix}{key}: unknown key (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            continue
        value = _convert(data[name], hints[name], prefix + name, problems)
        if value is not None:
            _check_meta(value, f.metadata, prefix + name, problems)
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError:
        return None
