"""Checkpoints that resume exactly and cannot run code when loaded.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts saved with
``torch.save`` and read back with ``torch.load(..., weights_only=True)``: the
restricted unpickler refuses anything that would import or call code, so a file with
a pickle payload is rejected before it can run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict

import torch

from ..files import atomic_write

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is unsafe, corrupt or from another format."""


def save_checkpoint(path, payload: Dict[str, Any]) -> None:
    """Write atomically: a crash mid-write never leaves a half checkpoint in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, tensor in payload.get("model", {}).items():
        if torch.is_floating_point(tensor) and not torch.isfinite(tensor).all():
            raise CheckpointError(f"refusing to save a model with non-finite values in {name}")
    atomic_write(path, lambda tmp: torch.save({"format": FORMAT_VERSION, **payload}, tmp))


def load_checkpoint(path) -> Dict[str, Any]:
    """Read a checkpoint without ever executing code from it."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint (a write that never finished?)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # the restricted unpickler raises UnpicklingError and others
        lines = str(exc).strip().splitlines()
        detail = f": {lines[0].split('. ')[0]}" if lines else ""
        raise CheckpointError(f"{path} is not a safe, complete ntm-widgets checkpoint ({type(exc).__name__}{detail})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not an ntm-widgets checkpoint (format {FORMAT_VERSION})")
    return data


def write_json(path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
