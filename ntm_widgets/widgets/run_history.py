"""Run history: every run a Playground trained, kept small enough to hold a hundred.

A *run* is one model from its first training step: each Train after a rebuild (a
change of the task or the machine's shape) or a Reset starts one; more Train presses
on the same model continue it. A ``RunRecord`` keeps what a person compares, not
every tensor:

- the configuration the run started from, what differs from the previous run
  (``changed``) and the settings changed while it trained (``live``);
- its loss and bit-error curves down-sampled to at most ``max_points`` (1,000)
  points each (``plotting.curves.downsample``: bins averaged);
- steps, sequences, seconds, restarts, skipped steps, the final validation bit
  errors and, once the stopping rule says it converged, generalisation at 2x and 4x
  the longest training length (100 sequences each, as ``ntm-widgets eval``);
- the model's weights (no optimizer state) for the newest ``keep_weights`` runs, so
  that ``save`` can write them as run folders the CLI can ``eval`` and ``replay``.

``RunHistory.frame()`` is a pandas DataFrame with a sweep's result columns
(``sweep.results.RESULT_FIELDS``), the fields that differ between runs as its axes,
so ``SweepView`` compares manual exploration and grid sweeps with one tool.
``save`` writes a folder (``index.json``, ``results.csv`` and one run folder per
run); ``load`` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..config import RunConfig
from ..files import atomic_write
from ..plotting.curves import downsample
from ..sweep.fields import known_fields
from ..sweep.results import RESULT_COLUMNS, RESULT_FIELDS, save_results

INDEX_FORMAT = "ntm-widgets-history"
MAX_POINTS = 1000  # points kept per curve of a finished run
KEEP_WEIGHTS = 20  # newest runs whose weights stay in memory (save writes them as checkpoints)
GEN_FACTORS = (2, 4)  # generalisation measured at these multiples of the longest training length
GEN_SAMPLES = 100
GEN_SEED = 0

# Short names people read in labels and the table ("lr=0.001, N=32").
SHORT = {
    "memory_size": "N",
    "word_size": "M",
    "controller_size": "controller size",
    "num_read_heads": "read heads",
    "num_write_heads": "write heads",
    "controller_layers": "layers",
    "batch_size": "batch",
    "name": "task",
}
# Axes a history table always has, so SweepView can draw it once one field varies.
DEFAULT_AXES = ("train.lr", "model.memory_size")


def flat_config(cfg: RunConfig) -> Dict[str, Any]:
    """Dotted field name -> value, over the three sections."""
    out = {}
    for section in ("model", "task", "train"):
        for k, v in getattr(cfg, section).to_dict().items():
            out[f"{section}.{k}"] = v
    return out


def config_changes(old: Optional[RunConfig], new: RunConfig) -> Dict[str, Any]:
    """Fields of ``new`` that differ from ``old``, by short field name ({} when old is None)."""
    if old is None:
        return {}
    a, b = flat_config(old), flat_config(new)
    return {k.split(".", 1)[1]: b[k] for k in b if a.get(k) != b[k]}


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def describe_changes(changes: Dict[str, Any]) -> str:
    """{"lr": 0.001, "memory_size": 32} -> "lr=0.001, N=32"."""
    return ", ".join(f"{SHORT.get(k, k)}={_fmt_value(v)}" for k, v in changes.items())


def _column_name(dotted: str) -> str:
    """A field's column, as a sweep names it: its short name unless ambiguous or a result column."""
    short = dotted.split(".", 1)[1]
    return short if known_fields().get(short) == dotted and short not in RESULT_COLUMNS else dotted


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


@dataclasses.dataclass
class RunRecord:
    """One run: its configuration, what it changed, its curves and results."""

    run_id: int
    config: RunConfig = dataclasses.field(repr=False)  # what the run started from
    changed: Dict[str, Any]  # fields that differ from the previous run's start
    final_config: Optional[RunConfig] = dataclasses.field(default=None, repr=False)  # after changes made while it trained
    live: List[Tuple[int, Dict[str, Any]]] = dataclasses.field(default_factory=list)  # (step, changes)
    steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    loss: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    bits: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    step_count: int = 0
    sequences: int = 0
    seconds: float = 0.0  # wall time of its training steps and their stopping rule
    train_seconds: float = 0.0  # the trainer's own count (forward, backward, update)
    restarts: int = 0
    nonfinite_steps: int = 0
    converged: bool = False
    bits_per_seq: Optional[float] = None  # validation on the training lengths at step_count
    bits_step: Optional[int] = None
    generalisation: Dict[int, Dict[str, float]] = dataclasses.field(default_factory=dict)  # length -> mean, max
    gen_step: Optional[int] = None
    reason: str = ""
    error: Optional[str] = None
    weights: Optional[Dict[str, Any]] = dataclasses.field(default=None, repr=False)  # model tensors (CPU), newest runs
    source: Optional[str] = None  # the run folder it was loaded from, if any

    @property
    def label(self) -> str:
        """ "run 3: lr=0.001" (what it changed), or "run 1" for a run that changed nothing."""
        what = describe_changes(self.changed)
        return f"run {self.run_id}: {what}" if what else f"run {self.run_id}"

    @property
    def gen_lengths(self) -> List[int]:
        return [f * self.config.task.max_len for f in GEN_FACTORS]

    def live_text(self) -> str:
        return "; ".join(f"{describe_changes(c)} at step {s:,}" for s, c in self.live)

    def nbytes(self) -> int:
        """Bytes held by its arrays and weights (the rest is a few hundred bytes of Python)."""
        n = self.steps.nbytes + self.loss.nbytes + self.bits.nbytes
        if self.weights:
            n += sum(t.numel() * t.element_size() for t in self.weights.values())
        return n

    def summary(self) -> Dict[str, Any]:
        """The JSON-ready description of the run (what index.json holds for it)."""
        return {
            "run_id": self.run_id,
            "label": self.label,
            "changed": {k: _jsonable(v) for k, v in self.changed.items()},
            "live": [[s, {k: _jsonable(v) for k, v in c.items()}] for s, c in self.live],
            "steps": self.step_count,
            "sequences": self.sequences,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "restarts": self.restarts,
            "nonfinite_steps": self.nonfinite_steps,
            "converged": self.converged,
            "bits_per_seq": self.bits_per_seq,
            "bits_step": self.bits_step,
            "generalisation": {str(k): v for k, v in self.generalisation.items()},
            "gen_step": self.gen_step,
            "reason": self.reason,
            "error": self.error,
            "config": self.config.to_dict(),
            "final_config": (self.final_config or self.config).to_dict(),
        }


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


class RunHistory(Sequence):
    """The runs of a Playground, oldest first; ``history[i]`` by position, ``get(run_id)`` by id."""

    def __init__(self, keep_weights: int = KEEP_WEIGHTS, max_points: int = MAX_POINTS):
        if keep_weights < 0:
            raise ValueError(f"keep_weights must be >= 0, got {keep_weights}")
        self.keep_weights = keep_weights
        self.max_points = max_points
        self.runs: List[RunRecord] = []

    # ------------------------------------------------------------ sequence
    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, i):
        return self.runs[i]

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(list(self.runs))

    def get(self, run_id: int) -> RunRecord:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise KeyError(f"no run {run_id} in the history (runs: {', '.join(str(r.run_id) for r in self.runs) or 'none'})")

    def __repr__(self) -> str:
        return f"RunHistory({len(self.runs)} runs)"

    def nbytes(self) -> int:
        return sum(r.nbytes() for r in self.runs)

    # ------------------------------------------------------------ recording
    def new_run(self, config: RunConfig) -> RunRecord:
        """A new run starting from ``config``; ``changed`` is against the previous run's start."""
        previous = self.runs[-1].config if self.runs else None
        run_id = (self.runs[-1].run_id + 1) if self.runs else 1
        record = RunRecord(run_id=run_id, config=config, changed=config_changes(previous, config), final_config=config)
        self.runs.append(record)
        return record

    def snapshot(self, record: RunRecord, trainer, steps, loss, bits, reason: str = "", measure: bool = True) -> None:
        """Copy a trainer's state into ``record``: down-sampled curves, counts, weights and
        (``measure``) the validation bits at this step and, once converged, generalisation.
        The caller holds whatever lock keeps the trainer still."""
        s, lo, b = downsample(np.asarray(steps), np.asarray(loss), np.asarray(bits), max_points=self.max_points)
        record.steps, record.loss, record.bits = _f32(s), _f32(lo), _f32(b)
        record.step_count = int(trainer.step_count)
        record.sequences = int(trainer.sequences)
        record.train_seconds = float(trainer.seconds)
        record.restarts = int(trainer.restarts)
        record.nonfinite_steps = int(trainer.nonfinite_steps)
        record.converged = bool(trainer.converged)
        record.final_config = trainer.cfg
        if reason:
            record.reason = reason
        failure = trainer.failure() if record.step_count else None
        record.error = failure
        if failure is None and record.step_count:
            record.weights = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
            if measure:
                if record.bits_step != record.step_count:
                    record.bits_per_seq = float(trainer.validate())
                    record.bits_step = record.step_count
                if record.converged and record.gen_step != record.step_count:
                    gen = trainer.evaluate(record.gen_lengths, samples=GEN_SAMPLES, seed=GEN_SEED)
                    record.generalisation = {n: {"mean": g["mean"], "max": g["max"]} for n, g in gen.items()}
                    record.gen_step = record.step_count
        self._trim_weights()

    def _trim_weights(self) -> None:
        with_weights = [r for r in self.runs if r.weights is not None]
        for r in with_weights[: max(0, len(with_weights) - self.keep_weights)]:
            r.weights = None

    # ------------------------------------------------------------ the table
    def axes(self) -> List[str]:
        """Dotted fields whose start values differ between runs (config order), padded
        with DEFAULT_AXES to at least two."""
        flats = [flat_config(r.config) for r in self.runs]
        varying = [k for k in (flats[0] if flats else {}) if any(f.get(k) != flats[0][k] for f in flats[1:])]
        for k in DEFAULT_AXES:
            if len(varying) >= 2:
                break
            if k not in varying:
                varying.append(k)
        return varying

    def frame(self):
        """A DataFrame, one row per run (oldest first), with a sweep's columns: trial_id
        ("run-3"), the fields that differ between runs, RESULT_FIELDS, then run, restarts,
        changed, live, gen_{L}_mean / gen_{L}_max, error and config (JSON)."""
        import pandas as pd

        axes = self.axes()
        gen_lengths = sorted({n for r in self.runs for n in r.generalisation})
        rows = []
        for r in self.runs:
            flat = flat_config(r.config)
            row: Dict[str, Any] = {"trial_id": f"run-{r.run_id}"}
            for dotted in axes:
                v = flat[dotted]
                row[_column_name(dotted)] = json.dumps(list(v)) if isinstance(v, tuple) else v
            row.update(
                converged=r.converged,
                seconds=r.seconds,
                train_seconds=r.train_seconds,
                sequences=r.sequences,
                steps=r.step_count,
                bits_per_seq=r.bits_per_seq,
                nonfinite_steps=r.nonfinite_steps,
                reason=r.reason,
            )
            row.update(run=r.run_id, restarts=r.restarts, changed=describe_changes(r.changed), live=r.live_text())
            for n in gen_lengths:
                g = r.generalisation.get(n)
                row[f"gen_{n}_mean"] = None if g is None else g["mean"]
                row[f"gen_{n}_max"] = None if g is None else g["max"]
            row["error"] = r.error
            row["config"] = json.dumps(r.config.to_dict(), sort_keys=True)
            rows.append(row)
        columns = ["trial_id", *[_column_name(a) for a in axes], *RESULT_FIELDS, "run", "restarts", "changed", "live"]
        columns += [f"gen_{n}_{s}" for n in gen_lengths for s in ("mean", "max")] + ["error", "config"]
        df = pd.DataFrame(rows, columns=columns)
        if len(df):
            df["converged"] = df["converged"].astype(bool)
        return df

    # ------------------------------------------------------------ files
    def save(self, folder, live: Optional[Tuple[RunRecord, Any]] = None) -> Path:
        """Write the history to ``folder``: ``index.json`` (every run's config, changes,
        results and curves' summary), ``results.csv`` (``frame()``, readable by
        ``sweep.load_results`` and ``SweepView``) and ``run-NNN/`` per run.

        A run whose weights are kept becomes a normal run folder (checkpoint.pt,
        config.json, history.json: ``ntm-widgets eval`` / ``replay`` take it); its
        checkpoint holds the weights and counters but not the optimizer's moments, and
        its history.json the down-sampled curves. ``live``: (record, trainer) of the run
        still held by a Playground, saved whole with ``Trainer.save_run`` (the caller
        holds its lock). Older runs, whose weights were dropped, get config.json and
        history.json only (index.json says ``checkpoint: false``).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for r in self.runs:
            run_dir = folder / f"run-{r.run_id:03d}"
            entry = r.summary()
            entry["dir"] = run_dir.name
            entry["checkpoint"] = self._save_run(r, run_dir, live)
            entry["downsampled"] = True
            entries.append(entry)
        index = {"format": INDEX_FORMAT, "version": 1, "max_points": self.max_points, "runs": entries}
        atomic_write(folder / "index.json", json.dumps(index, indent=1, default=_json_default) + "\n")
        save_results(self.frame(), folder / "results.csv")
        return folder

    def _save_run(self, r: RunRecord, run_dir: Path, live) -> bool:
        from ..training.checkpoint import CheckpointError, write_json
        from ..training.trainer import Trainer

        records = [
            {"event": "step", "step": float(s), "loss": None if not np.isfinite(lo) else float(lo), "bits_per_seq": float(b)}
            for s, lo, b in zip(r.steps, r.loss, r.bits)
        ]
        cfg = r.final_config or r.config
        try:
            if live is not None and live[0] is r:
                live[1].save_run(run_dir)
                return True
            if r.weights is not None:
                trainer = Trainer(cfg)
                trainer.model.load_state_dict(r.weights)
                trainer.step_count, trainer.sequences, trainer.seconds = r.step_count, r.sequences, r.train_seconds
                trainer.history = records
                trainer.nonfinite_steps, trainer.restarts, trainer.converged = r.nonfinite_steps, r.restarts, r.converged
                trainer.last_val = r.bits_per_seq
                trainer.save_run(run_dir)
                return True
        except CheckpointError:
            pass  # non-finite weights: the config and curves below
        if r.source is not None and (Path(r.source) / "checkpoint.pt").exists() and Path(r.source).resolve() != run_dir.resolve():
            shutil.copytree(r.source, run_dir, dirs_exist_ok=True)
            return True
        if (run_dir / "checkpoint.pt").exists():
            return True  # saved before into the same folder
        write_json(run_dir / "config.json", cfg.to_dict())
        write_json(run_dir / "history.json", records)
        return False

    @classmethod
    def load(cls, folder, keep_weights: int = KEEP_WEIGHTS, max_points: int = MAX_POINTS) -> "RunHistory":
        """Read a folder written by ``save``. Curves come from each run's history.json;
        weights stay on disk (``source``: saving again copies the run folder)."""
        folder = Path(folder)
        path = folder / "index.json"
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path} cannot be read as a run history: {exc}") from None
        if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT or not isinstance(index.get("runs"), list):
            raise ValueError(f"{path} is not a run history written by Playground.save_history")
        history = cls(keep_weights=keep_weights, max_points=max_points)
        for e in index["runs"]:
            run_dir = folder / e["dir"]
            record = RunRecord(
                run_id=int(e["run_id"]),
                config=RunConfig.from_dict(e["config"]),
                changed=dict(e.get("changed") or {}),
                final_config=RunConfig.from_dict(e.get("final_config") or e["config"]),
                live=[(int(s), dict(c)) for s, c in e.get("live") or []],
                step_count=int(e.get("steps") or 0),
                sequences=int(e.get("sequences") or 0),
                seconds=float(e.get("seconds") or 0.0),
                train_seconds=float(e.get("train_seconds") or 0.0),
                restarts=int(e.get("restarts") or 0),
                nonfinite_steps=int(e.get("nonfinite_steps") or 0),
                converged=bool(e.get("converged")),
                bits_per_seq=e.get("bits_per_seq"),
                bits_step=e.get("bits_step"),
                generalisation={int(k): v for k, v in (e.get("generalisation") or {}).items()},
                gen_step=e.get("gen_step"),
                reason=e.get("reason") or "",
                error=e.get("error"),
                source=str(run_dir) if (run_dir / "checkpoint.pt").exists() else None,
            )
            try:
                recs = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
                arr = np.asarray(
                    [(h["step"], np.nan if h.get("loss") is None else h["loss"], h["bits_per_seq"]) for h in recs],
                    dtype=np.float64,
                ).reshape(-1, 3)
                s, lo, b = downsample(arr[:, 0], arr[:, 1], arr[:, 2], max_points=max_points)
                record.steps, record.loss, record.bits = _f32(s), _f32(lo), _f32(b)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a run without its curves is still a row of the table
            history.runs.append(record)
        return history


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


__all__ = ["RunHistory", "RunRecord", "config_changes", "describe_changes", "flat_config"]
