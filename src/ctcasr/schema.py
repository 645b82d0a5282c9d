"""Typed settings: build a (nested) dataclass from YAML data, checking every value's type and range.

Used by recipes, model configs, decoding settings and checkpoints, so that a wrong value anywhere becomes one
`UserError` that names the dotted key, what it got and what was expected, before any work starts.
Ranges and choices live beside the fields: `field(default=..., metadata=limits(low=0, low_open=True))`.
YAML 1.1 reads `1e-4` as a string; numbers written like that are accepted as numbers.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from ctcasr.errors import UserError

_NONE = type(None)


def limits(low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False,
           choices: tuple | None = None) -> dict:
    """Field metadata: the allowed range (closed unless `*_open`) or set of values."""
    return {"low": low, "high": high, "low_open": low_open, "high_open": high_open, "choices": choices}


def build(cls: type, data: Any, where: str = "", source: str | None = None, label: str = "key") -> Any:
    """An instance of dataclass `cls` from a mapping; unknown keys, wrong types and out-of-range values raise.
    `label` names what the keys are in messages ("recipe key", "decoding setting")."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise UserError(f"{_name(where)} must be a mapping of settings, got {_kind(data)}", source)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise UserError(f"unknown {label} {path!r} (known here: {', '.join(sorted(fields))})", source)
        kwargs[key] = check(value, hints[key], path, source, fields[key].metadata, label)
    missing = [name for name, f in fields.items() if name not in kwargs and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        names = ", ".join(repr(f"{where}.{m}" if where else m) for m in missing)
        raise UserError(f"missing {label}{'s' if len(missing) > 1 else ''} {names}", source)
    return cls(**kwargs)


def check(value: Any, hint: Any, path: str, source: str | None = None, meta: typing.Mapping | None = None,
          label: str = "key") -> Any:
    """`value` converted to type `hint` (ints to floats, '1e-4' to 1e-4) and checked against `meta`'s limits."""
    value = _convert(value, hint, path, source, label)
    if meta:
        _check_limits(value, meta, path, source)
    return value


def _convert(value: Any, hint: Any, path: str, source: str | None, label: str = "key") -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path, source, label)
    if origin in (typing.Union, types.UnionType):
        if value is None and _NONE in args:
            return None
        nested = [a for a in args if dataclasses.is_dataclass(a)]
        if nested and isinstance(value, dict):  # a section: its own errors name the key that is wrong
            return build(nested[0], value, path, source, label)
        errors = []
        for option in (a for a in args if a is not _NONE):
            try:
                return _convert(value, option, path, source, label)
            except UserError as exc:
                errors.append(exc)
        raise UserError(f"{_name(path)} must be {_expected(hint)}, got {_show(value)}", source)
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"{_name(path)} must be a list of {_expected(args[0])}, got {_show(value)}", source)
        return [_convert(v, args[0], f"{path}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{_name(path)} must be a mapping, got {_show(value)}", source)
        return {str(k): _convert(v, args[1], f"{path}.{k}", source) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif hint is float:
        number = _number(value)
        if number is not None:
            if not math.isfinite(number):
                raise UserError(f"{_name(path)} must be a finite number, got {_show(value)}", source)
            return number
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(value, hint):
        return value
    raise UserError(f"{_name(path)} must be {_expected(hint)}, got {_show(value)}", source)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _check_limits(value: Any, meta: typing.Mapping, path: str, source: str | None) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None or isinstance(v, list):
            continue
        choices = meta.get("choices")
        if choices is not None and v not in choices:
            raise UserError(f"{_name(path)} must be one of {', '.join(map(str, choices))}; got {_show(v)}", source)
        low, high = meta.get("low"), meta.get("high")
        if not isinstance(v, int | float) or isinstance(v, bool):
            continue
        too_low = low is not None and (v <= low if meta.get("low_open") else v < low)
        too_high = high is not None and (v >= high if meta.get("high_open") else v > high)
        if too_low or too_high:
            raise UserError(f"{_name(path)} must be {_range(meta)}, got {_show(v)}", source)


def _range(meta: typing.Mapping) -> str:
    low, high = meta.get("low"), meta.get("high")
    if high is None:
        return f"{'>' if meta.get('low_open') else '>='} {low:g}"
    if low is None:
        return f"{'<' if meta.get('high_open') else '<='} {high:g}"
    left = "(" if meta.get("low_open") else "["
    right = ")" if meta.get("high_open") else "]"
    return f"in {left}{low:g}, {high:g}{right}"


def _expected(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(a) for a in args)
    if origin is list:
        return f"a list of {_expected(args[0])}"
    names = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", _NONE: "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _name(path: str) -> str:
    return repr(path) if path else "the top level"


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
