"""Engine options read from `ASR_<ENGINE>_<FIELD>` environment variables.

An engine's options are a dataclass deriving from `EnvOptions` with `ENV_PREFIX` set (e.g.
"ASR_FUNASR"): field `chunk_size` is read from ASR_FUNASR_CHUNK_SIZE, parsed by the field's type
(str, int, float, bool, or list[int] written "0,10,5"). A field with metadata `env=False` is not
read from the environment. Keyword overrides (the engine's constructor arguments) win over the
environment; `check` then rejects inconsistent values with a ValueError that names the variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(variable: str, raw: str, kind: str) -> Any:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "list[int]":
            return [int(x) for x in raw.replace(" ", "").split(",") if x]
    except ValueError:
        expected = {"int": "an integer", "float": "a number"}.get(kind, "comma-separated integers like '0,10,5'")
        raise ValueError(f"{variable}={raw!r}: expected {expected}") from None
    if kind == "bool":
        if raw.lower() not in _TRUE + _FALSE:
            raise ValueError(f"{variable}={raw!r}: expected true or false")
        return raw.lower() in _TRUE
    return raw


@dataclass
class EnvOptions:
    ENV_PREFIX: ClassVar[str] = ""

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of field `name`: 'model_dir' -> 'ASR_FUNASR_MODEL_DIR'."""
        return f"{cls.ENV_PREFIX}_{name.upper()}"

    @classmethod
    def from_env(cls, **overrides: Any):
        values = {}
        for f in fields(cls):
            raw = os.environ.get(cls.variable(f.name)) if f.metadata.get("env", True) else None
            if raw is not None:
                values[f.name] = _parse(cls.variable(f.name), raw, str(f.type))
        values.update({key: value for key, value in overrides.items() if value is not None})
        opts = cls(**values)
        opts.check()
        return opts

    def check(self) -> None:
        """Raise ValueError, naming the variables, for values that cannot work together."""
