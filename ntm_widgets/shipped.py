"""Trained models that ship with the package: one small NTM per task of the paper.

    trainer = ntm_widgets.pretrained("associative_recall")
    trainer.evaluate([6, 12], samples=100)      # or record_trace(trainer.model, trainer.task, ...)

Each file in ``ntm_widgets/models/`` holds the model's weights and RunConfig, the
command that trained it (``made_by``) and what that command measured (``measured``).
Files are written by ``save_pretrained`` (``tools/ship_pretrained.py`` copies the NTMs
of an ``ntm-widgets paper`` report folder); tests check every shipped model against its
task's target on fresh sequences. (The module is not called ``pretrained`` so that
``ntm_widgets.pretrained`` stays the function once the module is imported.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import torch

from .config import TASKS, RunConfig
from .files import atomic_write

MODELS = Path(__file__).resolve().parent / "models"
FORMAT = 1


def available() -> List[str]:
    """The tasks that have a shipped model, in the paper's order."""
    return [t for t in TASKS if (MODELS / f"{t}.pt").exists()]


def pretrained(task: str = "copy"):
    """A Trainer holding the shipped NTM for ``task`` (``.model``, ``.task``, ``.cfg``;
    ``.made_by`` and ``.measured`` say how it was made and what that run measured)."""
    from .training import Trainer

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    path = MODELS / f"{task}.pt"
    if not path.exists():
        have = ", ".join(available()) or "none"
        raise FileNotFoundError(f"no pretrained model for {task!r} ships with this version (shipped: {have})")
    data = torch.load(path, map_location="cpu", weights_only=True)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: format {data.get('format')!r}, this version reads {FORMAT}")
    trainer = Trainer(RunConfig.from_dict(data["config"]))
    trainer.model.load_state_dict({k: v.float() for k, v in data["model"].items()})
    trainer.model.eval()
    trainer.made_by, trainer.measured = data["made_by"], data["measured"]
    return trainer


def save_pretrained(trainer, path, made_by: str, measured: Dict) -> Path:
    """Write ``trainer``'s model in the shipped format: weights, config, provenance."""
    import io

    if getattr(trainer, "baseline", False):
        raise ValueError("the shipped models are NTMs; this trainer holds the LSTM baseline")
    buf = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
    torch.save({"format": FORMAT, "config": trainer.cfg.to_dict(), "model": state, "made_by": made_by, "measured": measured}, buf)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)
