"""Training: the Trainer, metrics and safe checkpoints."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .metrics import bit_errors, evaluate_lengths, masked_loss, validate
from .trainer import Trainer, build_model

__all__ = [
    "Trainer",
    "build_model",
    "bit_errors",
    "evaluate_lengths",
    "masked_loss",
    "validate",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]
