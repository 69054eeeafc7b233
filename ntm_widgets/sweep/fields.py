"""Sweep axes: config field names, values parsed by the field's type, and trial keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Dict, List, Mapping, Optional

from ..config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig

SECTIONS = {"model": ModelConfig, "task": TaskConfig, "train": TrainConfig}
# Short names that are not field names: "task" means task.name.
ALIASES = {"task": "task.name"}


# ----------------------------------------------------------------- field names
def known_fields() -> Dict[str, str]:
    """Every accepted name -> its dotted "section.field" name (dotted names map to themselves)."""
    owners: Dict[str, List[str]] = {}
    names: Dict[str, str] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            dotted = f"{section}.{f.name}"
            names[dotted] = dotted
            owners.setdefault(f.name, []).append(dotted)
    for short, dotted in owners.items():
        if len(dotted) == 1:  # an ambiguous short name must be written in full
            names[short] = dotted[0]
    for alias, dotted in ALIASES.items():
        names.setdefault(alias, dotted)
    return names


def resolve_field(name: str) -> str:
    """ "memory_size" or "model.memory_size" -> "model.memory_size"; ConfigError if unknown."""
    names = known_fields()
    if not isinstance(name, str) or name not in names:
        shorts = sorted(n for n in names if "." not in n)
        ambiguous = sorted({n.split(".", 1)[1] for n in names if "." in n} - set(shorts))
        hint = f"; ambiguous, write it as section.{name}" if name in ambiguous else ""
        raise ConfigError(
            str(name),
            f"unknown sweep field {name!r}{hint}; known fields: {', '.join(shorts)} (or section.field with section in model, task, train)",
        )
    return names[name]


def _field_type(dotted: str) -> str:
    section, name = dotted.split(".", 1)
    return str({f.name: f.type for f in dataclasses.fields(SECTIONS[section])}[name])


def _normalise_value(dotted: str, value):
    """Ints given for float fields become floats, so lr=1 and lr=1.0 are one trial."""
    if "float" in _field_type(dotted) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return value


def parse_value(dotted: str, text: str, flag: str = "--grid"):
    """Parse one command-line value by the field's declared type; ValueError names the flag."""
    kind = _field_type(dotted)
    text = text.strip()
    if "Optional" in kind and text.lower() in ("none", "null", ""):
        return None
    try:
        if "bool" in kind:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "int" in kind:
            return int(text)
        if "float" in kind:
            return float(text)
    except ValueError:
        want = "true/false" if "bool" in kind else ("an integer" if "int" in kind else "a number")
        raise ConfigError(dotted.split(".", 1)[1], f"{flag} {dotted}: {text!r} is not {want}") from None
    return text


# ----------------------------------------------------------------- hashing
def _canonical(obj):
    """JSON-safe, with floats as repr so the hash does not depend on formatting."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)
    return obj


def trial_key(cfg: RunConfig, eval_settings: Optional[Mapping] = None) -> str:
    """A stable 16-hex-digit hash of the full config (and evaluation settings)."""
    payload = {"config": cfg.to_dict(), "eval": dict(eval_settings or {})}
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_run_config(base) -> RunConfig:
    if base is None:
        return RunConfig()
    if isinstance(base, RunConfig):
        return base
    if isinstance(base, Mapping):
        return RunConfig.from_dict(dict(base))
    raise TypeError(f"base must be a RunConfig, a dict or None, got {type(base).__name__}")


def _with_values(base: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """A new RunConfig with dotted fields replaced; the config classes validate."""
    data = base.to_dict()
    for dotted, value in values.items():
        section, name = dotted.split(".", 1)
        data[section][name] = value
    return RunConfig.from_dict(data)
