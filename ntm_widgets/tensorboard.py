"""Training logs TensorBoard reads: a Trainer callback (optional extra ``tensorboard``).

    logger = TensorBoardLogger("tb/run1", trainer)
    trainer.run(steps=1000, callbacks=[logger])
    logger.close()            # the config as hyperparameters, final metrics, a replay frame

Scalars per step (every ``every`` steps): ``train/loss``, ``train/bits_per_seq``; on
each validation ``val/bits_per_seq``; on each selection measurement
``select/bits_<length>``. ``close`` writes the run's config as hyperparameters (with its
final validation and steps as the metrics) and one replay frame (the memory and the
heads at the last step of a fresh sequence) as an image. ``ntm-widgets train
--tensorboard DIR`` uses it; in Python pass it to ``Trainer.run(callbacks=[...])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional


def available() -> Optional[str]:
    """None when TensorBoard logging can work here, else why not (with the fix)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:
        return f"TensorBoard logging needs the tensorboard package ({exc}); pip install 'ntm-widgets[tensorboard]'"
    return None


def _flat_config(cfg) -> Dict[str, object]:
    out = {}
    for section, values in cfg.to_dict().items():
        for key, value in values.items():
            if isinstance(value, (list, tuple)):
                value = ",".join(map(str, value))
            out[f"{section}.{key}"] = "none" if value is None else value
    return out


class TensorBoardLogger:
    """A Trainer callback writing TensorBoard event files under ``log_dir``."""

    def __init__(self, log_dir, trainer, every: int = 10):
        problem = available()
        if problem:
            raise ImportError(problem)
        from torch.utils.tensorboard import SummaryWriter

        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.log_dir = Path(log_dir)
        self.trainer = trainer
        self.every = every
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self._closed = False

    def __call__(self, record: Dict) -> None:
        step = record["step"]
        w = self.writer
        if step % self.every == 0 or record.get("event") == "restart":
            if record.get("loss") is not None:
                w.add_scalar("train/loss", record["loss"], step)
            w.add_scalar("train/bits_per_seq", record["bits_per_seq"], step)
        if "val_bits_per_seq" in record:
            w.add_scalar("val/bits_per_seq", record["val_bits_per_seq"], step)
        if record.get("event") == "restart":
            w.add_scalar("train/restarts", record.get("restarts", 0), step)
        if "select_bits" in record:
            w.add_scalar("select/bits", record["select_bits"], step)
            last = getattr(self.trainer, "last_select", None) or {}
            for length, bits in last.get("lengths", {}).items():
                w.add_scalar(f"select/bits_{length}", bits, step)

    def close(self, replay_length: Optional[int] = None) -> None:
        """Write the hyperparameters and a replay frame, then flush (idempotent)."""
        if self._closed:
            return
        self._closed = True
        t = self.trainer
        metrics = {"hparam/steps": float(t.step_count)}
        if t.last_val is not None:
            metrics["hparam/val_bits_per_seq"] = float(t.last_val)
        self.writer.add_hparams(_flat_config(t.cfg), metrics, run_name=".")
        if not getattr(t, "baseline", False):
            self._replay_frame(replay_length or t.cfg.task.max_len)
        self.writer.flush()
        self.writer.close()

    def _replay_frame(self, length: int) -> None:
        import io

        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from PIL import Image

        from .plotting.trace_plots import trace_figure
        from .trace import record_trace

        trace = record_trace(self.trainer.model, self.trainer.task, length=length, seed=self.trainer.cfg.train.seed)
        fig = trace_figure(trace)
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=60)
        rgb = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        self.writer.add_image("replay/last_step", rgb, self.trainer.step_count, dataformats="HWC")
