"""Settings files for dataclass configs: JSON or YAML in, unknown fields refused.

Training runs (:class:`l2t.train.trainer.TrainConfig`) and experiments
(:class:`l2t.experiment.ExperimentConfig`) are read from files the same way: a mapping of field
names to values, where a misspelt field is an error rather than a silently ignored default, and a
missing required field is named rather than a TypeError.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from l2t._l2t import ConfigError

# A key any settings file may carry to explain itself; it is not a field.
COMMENT = "_comment"


def read_settings(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a JSON (or, with PyYAML installed, YAML) file, without its ``_comment``.

    Raises:
        ConfigError: the file cannot be read or parsed, or does not hold a mapping.

    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith((".yaml", ".yml")):
            import yaml  # optional dependency

            try:
                values = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ValueError(str(e)) from e
        else:
            values = json.loads(text)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read settings: {e}") from e
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: settings must be a mapping, not {type(values).__name__}")
    values.pop(COMMENT, None)
    return values


def check_fields(cls: type, values: dict[str, Any], what: str) -> None:
    """Raises a ConfigError naming what is wrong with `values` as fields of dataclass `cls`.

    Keys that are not fields, and fields without a default that `values` leaves out (which
    ``cls(**values)`` would report as a bare TypeError).
    """
    fields = dataclasses.fields(cls)
    known = {f.name for f in fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {what} {unknown}; known: {sorted(known)}")
    no_default = dataclasses.MISSING
    missing = [
        f.name
        for f in fields
        if f.init
        and f.default is no_default
        and f.default_factory is no_default
        and f.name not in values
    ]
    if missing:
        raise ConfigError(f"missing {what} {missing} (these have no default)")
