"""ntm-widgets: Neural Turing Machines you can train, watch and understand in Jupyter.

Public names: ``Playground`` (inline training app), ``ReplayPlayer`` (a recorded run,
drawn in the browser), ``AddressingExplorer``; and the core pieces ``NTM``,
``RunConfig``, ``Trainer``, ``pretrained`` (a trained NTM per task of the paper),
``run_sweep`` and ``SweepView`` (hyperparameter grids). Widget names are imported lazily so that ``import
ntm_widgets`` for training alone does not load ipywidgets.
"""

from .config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from .core import NTM, LSTMBaseline

__version__ = "0.1.0"

_WIDGETS = {"Playground", "ReplayPlayer", "AddressingExplorer", "SweepView"}


def __getattr__(name):
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    if name == "Trainer":
        from .training import Trainer

        return Trainer
    if name == "pretrained":
        from .shipped import pretrained

        return pretrained
    if name == "run_sweep":
        from .sweep import run_sweep

        return run_sweep
    raise AttributeError(f"module 'ntm_widgets' has no attribute {name!r}")


__all__ = [
    "Playground",
    "ReplayPlayer",
    "AddressingExplorer",
    "SweepView",
    "run_sweep",
    "NTM",
    "LSTMBaseline",
    "RunConfig",
    "ModelConfig",
    "TaskConfig",
    "TrainConfig",
    "ConfigError",
    "Trainer",
    "pretrained",
]
