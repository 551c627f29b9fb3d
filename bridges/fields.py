"""Reading client JSON messages strictly: one parser, typed field getters, the language check.

Every problem is a `FieldError` whose text says what was wrong and what to send instead; the
codecs put it in their own error shape. Core errors are classified in bridges/faults.py.
"""
from __future__ import annotations

import json
import math
from typing import Any

from asr_common.language_tags import is_language_tag


class FieldError(ValueError):
    """A client message field is missing, has the wrong type or an invalid value."""


MAX_NUMBER_DIGITS = 32  # longer number literals are refused before Python converts them
MAX_JSON_DEPTH = 16  # nesting of arrays/objects in one client message; the dialects need 3


def _refuse_constant(name: str) -> Any:
    raise FieldError(f"{name} is not a JSON number; send finite numbers only")


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_DIGITS:
        raise FieldError(f"number of {len(literal)} digits is too long; send at most {MAX_NUMBER_DIGITS} digits")
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal) if len(literal) <= 2 * MAX_NUMBER_DIGITS else float("inf")
    if not math.isfinite(value):
        raise FieldError(f"number {literal[:40]} is out of range; send finite numbers only")
    return value


def parse_json(text: str, what: str) -> Any:
    """The one JSON parser for client text frames: never raises anything but FieldError.

    Refuses what Python's json would accept or choke on: NaN/Infinity, numbers too long to
    convert (and floats that overflow), nesting deep enough to exhaust the recursion limit.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise FieldError(f"{what} is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise FieldError(f"{what} is nested too deeply; send a flat JSON object") from None
    except FieldError as exc:
        raise FieldError(f"{what}: {exc}") from None
    except ValueError as exc:  # e.g. int() limits; no raw exception text to the client
        raise FieldError(f"{what} holds a value that cannot be read ({type(exc).__name__})") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise FieldError(f"{what} is nested too deeply (over {MAX_JSON_DEPTH} levels); send a flat JSON object")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise FieldError(f"{what} must be a JSON object, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def get_str(obj: dict[str, Any], key: str, default: str, *, allow_empty: bool = False) -> str:
    if key not in obj:
        return default
    value = obj[key]
    if value is None or (value == "" and not allow_empty):
        raise FieldError(f"{key} is missing (null or empty); leave it out for the default {default!r} or give a value")
    if not isinstance(value, str):
        raise FieldError(f"{key} must be a string, got {_type_name(value)} {value!r}")
    return value


def get_int(obj: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    return _get_number(obj, key, default, lo, hi, (int,), "an integer")


def get_float(obj: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    return float(_get_number(obj, key, default, lo, hi, (int, float), "a number"))


def _get_number(obj: dict[str, Any], key: str, default: float, lo: float, hi: float,
                kinds: tuple[type, ...], noun: str) -> Any:
    if key not in obj:
        return default
    value = obj[key]
    if value is None:
        raise FieldError(f"{key} is missing (null); leave it out for the default {default} or give {noun}")
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise FieldError(f"{key} must be {noun}, got {_type_name(value)} {value!r}")
    if not lo <= value <= hi:
        raise FieldError(f"{key} must be between {lo} and {hi}, got {value}")
    return value


def get_bool(obj: dict[str, Any], key: str, default: bool) -> bool:
    if key not in obj:
        return default
    value = obj[key]
    if not isinstance(value, bool):
        raise FieldError(f"{key} must be true or false, got {_type_name(value)} {value!r}")
    return value


def check_language(tag: str, key: str) -> str:
    """`tag` when it is a BCP-47 language tag (asr_common/language_tags.py), else FieldError."""
    if not is_language_tag(tag):
        raise FieldError(f"{key} {tag!r} is not a language code; use a BCP-47 tag such as en-US, ar-EG or zh-CN")
    return tag

