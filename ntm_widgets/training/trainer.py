"""Training loop: knows nothing of widgets, reports through callbacks, stops on an event.

    trainer = Trainer(RunConfig())
    trainer.run(callbacks=[print])          # until steps / time_limit / target_bits

Each step calls every callback with a dict: ``step``, ``loss``, ``bits_per_seq``
(training batch), ``sequences``, ``seconds`` and, after a validation,
``val_bits_per_seq``; ``event`` is "step", "nonfinite" for a skipped step, or "restart" when the step
ended with fresh weights (``restarts`` then holds the count, and ``restart_why`` the cause:
"stuck" above restart_bits after restart_after steps, "select_early" above
select_early_bits at selection's first measurements, "select_steps" no pass within
select_steps polish steps).
Settings that may change while training (lr, batch size, lengths) are applied at the
next step boundary through ``update``; a ``threading.Event`` stops within one step.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

import torch

from ..config import ConfigError, RunConfig, TaskConfig, TrainConfig, resolve_fused_threads
from ..core.ntm import NTM, LSTMBaseline
from ..tasks import make_task
from ..tasks.repeat_copy import repeats_fixed
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint, write_json
from .metrics import evaluate_lengths, masked_loss, validate
from .optim import Adam

Callback = Callable[[Dict], None]
# Training batches averaged to decide that a full validation is worth running.
VAL_WINDOW = 20
# A run whose last this-many steps (or all its steps, if fewer) were all skipped as
# non-finite has failed, even if its weights are still finite.
FAIL_WINDOW = 50
# Seconds of training between checkpoints written by ``run(checkpoint=...)``.
CHECKPOINT_EVERY = 30.0

REQUIRED_ENTRY = object()  # a checkpoint entry with no default: older formats had it too
# The plain values of a Trainer's state: (checkpoint key, attribute, default when an
# older checkpoint lacks it). ``state_dict`` and ``load`` both read this one list; the
# model, optimizer, random states and selection's weights are handled by name there.
STATE = (
    ("step", "step_count", REQUIRED_ENTRY),
    ("sequences", "sequences", REQUIRED_ENTRY),
    ("seconds", "seconds", REQUIRED_ENTRY),
    ("history", "history", REQUIRED_ENTRY),
    ("nonfinite_steps", "nonfinite_steps", REQUIRED_ENTRY),
    ("curriculum_max", "curriculum_max", REQUIRED_ENTRY),
    ("curriculum_repeats", "curriculum_repeats", None),
    ("running_bits", "_running_bits", REQUIRED_ENTRY),
    ("last_val", "last_val", REQUIRED_ENTRY),
    ("converged", "converged", REQUIRED_ENTRY),
    ("restarts", "restarts", 0),
    ("attempt_start", "_attempt_start", 0),
    ("attempt_checked", "_attempt_checked", False),
    ("select_start", "_select_start", 0),
    ("select_last", "_select_last", 0),
    ("last_select", "last_select", None),
    ("attempt_select_best", "_attempt_select_best", math.inf),
    ("first_pass", "_first_pass", None),
    ("resumes", "resumes", []),
    ("best", "best", None),
)


# What each restart cause (a record's ``restart_why``) means, in short words for logs.
RESTART_CAUSES = {
    "stuck": "stuck",
    "select_early": "failed at selection's first look",
    "select_steps": "no selection pass",
}


def _cosine(start: float, end: float, done: float) -> float:
    """From ``start`` (done 0) to ``end`` (done 1) along half a cosine."""
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * done))


def _cpu(tensors: Dict) -> Dict:
    return {k: v.detach().cpu() for k, v in tensors.items()}


def _grow(cap: int, top: int) -> int:
    """A curriculum's next cap: a quarter more, at least one, up to ``top``."""
    return min(top, cap + max(1, cap // 4))


def attempt_seed(seed: int, attempt: int) -> int:
    """The weight-initialisation seed of a run's attempt (0: the run's own seed)."""
    return seed if attempt == 0 else (seed + 1_000_003 * attempt) % (2**63)


def build_model(cfg: RunConfig, task=None, baseline=False, attempt: int = 0):
    """The NTM (or the LSTM baseline) sized for the task, seeded from the run's seed.
    ``baseline``: False, True (LSTMBaseline's default size) or a dict of its sizes,
    e.g. {"hidden_size": 128, "num_layers": 3}."""
    task = task or make_task(cfg.task)
    torch.manual_seed(attempt_seed(cfg.train.seed, attempt))
    if baseline:
        sizes = baseline if isinstance(baseline, dict) else {}
        return LSTMBaseline(task.input_size, task.output_size, **sizes)
    return NTM.from_config(cfg.model, task.input_size, task.output_size)


class Trainer:
    """Trains one model on one task; holds every bit of state a checkpoint needs."""

    def __init__(self, cfg: Optional[RunConfig] = None, device=None, baseline=False, model=None):
        self.cfg = cfg or RunConfig()
        if self.cfg.train.threads is not None:
            torch.set_num_threads(self.cfg.train.threads)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.baseline = baseline
        self.task = make_task(self.cfg.task)
        self.model = (model or build_model(self.cfg, self.task, baseline)).to(self.device)
        self._set_backend()
        self.optimizer = self._make_optimizer()
        self.generator = torch.Generator().manual_seed(self.cfg.train.seed)
        self.step_count = 0
        self.sequences = 0
        self.seconds = 0.0  # training time, summed over runs (resumes included)
        self.history: List[Dict] = []
        self.nonfinite_steps = 0
        self.curriculum_max = self.cfg.train.curriculum_start if self.cfg.train.curriculum else None
        self.curriculum_repeats = self._repeats_start()
        self.last_val: Optional[float] = None
        self.converged = False
        self.lock = threading.RLock()  # guards cfg changes coming from other threads
        self._pending: Dict = {}
        self._running_bits: Optional[float] = None
        # Training bits/seq of the last few batches (all lengths): a cheap signal of when
        # a full validation is worth its cost. Derived state only: it is rebuilt from
        # ``history`` on load, so a resumed run validates at the same steps.
        self._recent: List[float] = []
        self.restarts = 0  # fresh starts so far (TrainConfig.restart_after)
        self._attempt_start = 0  # step at which the current attempt began
        self._attempt_checked = False  # this attempt was judged (once, at restart_after)
        # Selection (TrainConfig.select_lengths): "fit" until the training lengths are
        # learned, then "select" (polish and measure on longer lengths).
        self.stage = "fit"
        self._select_start = 0  # step at which this attempt entered selection
        self._select_last = 0  # step of the last selection measurement
        self.last_select: Optional[Dict] = None  # the last measurement: bits, worst, step
        self.best: Optional[Dict] = None  # best candidate: bits, worst, step, attempt, model state
        self._attempt_select_best = math.inf
        self._first_pass: Optional[int] = None
        self._last_val_step = 0  # step of the last validation on the training lengths
        self.ema_model = None  # averaged weights during selection (TrainConfig.ema)
        self.resumes: List[Dict] = []  # settings changed when the run was resumed, by step
        self.checkpoint_step: Optional[int] = None  # step of the last checkpoint run() wrote
        self._train_weights: Optional[Dict] = None  # training's weights while use_best shows another

    # ----------------------------------------------------------------- settings
    def _make_optimizer(self):
        t = self.cfg.train
        params = self.model.parameters()
        if t.optimizer == "adam":
            # Same algorithm as torch.optim.Adam, without its ~1.2 s first-use import of
            # torch._dynamo (see optim.py); checkpoints are interchangeable.
            return Adam(params, lr=t.lr)
        # The paper: RMSProp with momentum 0.9 (Graves et al. 2014, section 4).
        return torch.optim.RMSprop(params, lr=t.lr, momentum=t.momentum, alpha=0.95, eps=1e-6)

    def _set_backend(self, model=None) -> None:
        # How the NTM runs (NTM.set_backend): compiled (TrainConfig.compile) over the fused
        # C step (TrainConfig.fused) over eager. The LSTM baseline has one way to run.
        model = self.model if model is None else model
        if isinstance(model, NTM):
            t = self.cfg.train
            kind = "compiled" if t.compile else "fused" if t.fused else "eager"
            model.set_backend(kind, threads=resolve_fused_threads(t.fused_threads))

    def update(self, **changes) -> None:
        """Queue changes to training or task settings, applied at the next step boundary.

        Accepts TrainConfig fields (lr, batch_size, clip, ...) and the task's
        ``min_len`` / ``max_len``. Values are validated now; a bad one raises
        ``ConfigError`` naming the field.
        """
        train_fields = set(TrainConfig.__dataclass_fields__)
        task_fields = {"min_len", "max_len", "min_repeats", "max_repeats"}
        unknown = set(changes) - train_fields - task_fields
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)[0]!r} while training; rebuild the trainer")
        with self.lock:
            pending = {**self._pending, **changes}
            # Validate the combination now, so the error reaches the caller.
            RunConfig(
                model=self.cfg.model,
                task=self.cfg.task.replace(**{k: v for k, v in pending.items() if k in task_fields}),
                train=self.cfg.train.replace(**{k: v for k, v in pending.items() if k in train_fields}),
            )
            self._pending = pending

    def _apply_pending(self) -> None:
        with self.lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, {}
        task_fields = {k: v for k, v in pending.items() if k in TaskConfig.__dataclass_fields__}
        train_fields = {k: v for k, v in pending.items() if k not in task_fields}
        self.cfg = RunConfig(
            model=self.cfg.model, task=self.cfg.task.replace(**task_fields), train=self.cfg.train.replace(**train_fields)
        )
        if task_fields:
            self.task = make_task(self.cfg.task)
        if "fused" in train_fields or "fused_threads" in train_fields:
            self._set_backend()
        if "lr" in train_fields or "momentum" in train_fields:
            for group in self.optimizer.param_groups:
                group["lr"] = self.cfg.train.lr
                if "momentum" in group:
                    group["momentum"] = self.cfg.train.momentum

    # --------------------------------------------------------------- one step
    def train_step(self) -> Dict:
        """One optimiser step on a fresh batch; returns the metrics dict."""
        self._apply_pending()
        if self._train_weights is not None:  # the model shows a selected candidate (use_best)
            with torch.no_grad():
                self.model.load_state_dict(self._train_weights)
            self._train_weights = None
        t0 = time.perf_counter()
        cfg = self.cfg.train
        polishing = self.stage == "select"
        power = cfg.polish_length_power if polishing and cfg.polish_length_power is not None else cfg.length_power
        blank = cfg.polish_blank_prob if polishing else 0.0
        by_count = cfg.curriculum_over == "repeats"
        count_cap = self._count_cap()
        batch = self.task.sample(
            cfg.batch_size,
            self.generator,
            max_len=None if by_count else self.curriculum_max,
            max_repeats=self.curriculum_max if by_count else count_cap,
            length_power=power,
            blank_prob=blank,
            training=True,
        )
        x, y, m = (t.to(self.device) for t in batch)
        if cfg.lr_final is not None and not polishing:
            self._set_lr(self.scheduled_lr())
        if cfg.polish_lr_final is not None and polishing:
            self._set_lr(self.polish_scheduled_lr())
        self.model.train()
        if isinstance(self.model, NTM):  # set every step: the Playground may change the config between steps
            self.model.gate_noise = cfg.polish_gate_noise if polishing and cfg.polish_gate_noise is not None else cfg.gate_noise
        with self._step_rows(polishing):
            logits, _ = self.model(x)
            weights = m
            if polishing and cfg.polish_marker_weight != 1.0:
                weights = self.task.weight_marker(y, m, cfg.polish_marker_weight)
            loss = masked_loss(logits, y, weights)
            self.optimizer.zero_grad(set_to_none=True)
            event = "step"
            if torch.isfinite(loss):
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
                if torch.isfinite(norm):
                    self.optimizer.step()
                    if self.ema_model is not None:
                        self._update_ema()
                else:
                    event = "nonfinite"
            else:
                event = "nonfinite"
        if event == "nonfinite":
            self.optimizer.zero_grad(set_to_none=True)
            self.nonfinite_steps += 1
        with torch.no_grad():
            bits = float(self.task.score(logits.detach(), y, m).mean())  # validation's measure
        self.step_count += 1
        self.sequences += cfg.batch_size
        self.seconds += time.perf_counter() - t0
        loss_value = float(loss.detach())
        self._advance_curriculum(bits, batch.mask.sum(1).mean().item())
        self._recent = (self._recent + [bits])[-VAL_WINDOW:]
        record = {
            "event": event,
            "step": self.step_count,
            "loss": loss_value if math.isfinite(loss_value) else None,
            "bits_per_seq": bits,
            "sequences": self.sequences,
            "seconds": self.seconds,
            "length": int(batch.inputs.shape[1]),
        }
        if self.curriculum_max is not None:
            record["curriculum_max"] = self.curriculum_max
        if self.curriculum_repeats is not None:
            record["curriculum_repeats"] = self.curriculum_repeats
        if self._stuck():
            self._restart()
            record["restarts"] = self.restarts
            record["restart_why"] = "stuck"
            if event == "step":
                record["event"] = "restart"
        self.history.append(record)
        return record

    @contextmanager
    def _step_rows(self, polishing: bool):
        """The memory rows of one training step: TrainConfig.polish_memory_size on every
        polish_memory_every-th step while polishing, memory_size otherwise and after it."""
        t = self.cfg.train
        rows = t.polish_memory_size if polishing and isinstance(self.model, NTM) else None
        if rows is not None and self.step_count % t.polish_memory_every:
            rows = None
        if rows is None:
            yield
            return
        self.model.resize_memory(rows)
        try:
            yield
        finally:
            self.model.resize_memory(self.cfg.model.memory_size)

    def _stuck(self) -> bool:
        """Once per attempt, when it is restart_after steps old (or older, if the setting
        was lowered mid-run): is the mean of its last (up to 20) batches above restart_bits?"""
        after = self.cfg.train.restart_after
        if (
            after is None
            or self.converged
            or self.stage == "select"
            or self._attempt_checked
            or self.step_count - self._attempt_start < after
        ):
            return False
        self._attempt_checked = True
        recent = self._recent
        return bool(recent) and sum(recent) / len(recent) > self.cfg.train.restart_bits

    def _restart(self) -> None:
        """Fresh weights and optimizer state, in place (widgets holding the model keep it)."""
        self._leave_select()
        self.restarts += 1
        self._attempt_start = self.step_count
        self._attempt_checked = False
        rng = torch.get_rng_state()
        fresh = build_model(self.cfg, self.task, self.baseline, attempt=self.restarts)
        torch.set_rng_state(rng)
        with torch.no_grad():
            self.model.load_state_dict(fresh.state_dict())
        self.optimizer.state.clear()
        self._recent = []
        self._running_bits = None
        self.last_val = None  # the old attempt's validation says nothing of the new weights
        if self.cfg.train.curriculum:
            self.curriculum_max = self.cfg.train.curriculum_start
        self.curriculum_repeats = self._repeats_start()

    def _promising(self, target_bits: float) -> bool:
        """Worth a full validation: the mean over the last VAL_WINDOW training batches,
        whatever their lengths, is below the target. A single short batch with no
        errors says little (a length-1 copy is easy); many in a row of every length do.
        """
        recent = self._recent
        return len(recent) >= VAL_WINDOW and sum(recent) / len(recent) < target_bits

    def _repeats_start(self) -> Optional[int]:
        """The count's cap while the length grows first ("length-then-repeats"), else None."""
        t = self.cfg.train
        return t.curriculum_start if t.curriculum and t.curriculum_over == "length-then-repeats" else None

    def _curriculum_end(self) -> int:
        """Where the curriculum stops growing: the longest length, or the largest count."""
        t = self.cfg.task
        return t.max_repeats if self.cfg.train.curriculum_over == "repeats" else t.max_len

    def _count_cap(self) -> Optional[int]:
        """The cap on the training draw's repeat count while "length-then-repeats" holds it
        (None otherwise, also after a resume under another curriculum_over)."""
        return self.curriculum_repeats if self.cfg.train.curriculum_over == "length-then-repeats" else None

    def curriculum_done(self) -> bool:
        """The training draw covers the whole configured range (or there is no curriculum)."""
        if self.curriculum_max is None:
            return True
        cap = self._count_cap()
        return self.curriculum_max >= self._curriculum_end() and (cap is None or cap >= self.cfg.task.max_repeats)

    def _advance_curriculum(self, bits: float, answer_steps: float) -> None:
        r = self._running_bits
        self._running_bits = bits if r is None else 0.9 * r + 0.1 * bits
        if self.curriculum_done():
            return
        if self._running_bits < self.cfg.train.curriculum_threshold and self.step_count % 10 == 0:
            end = self._curriculum_end()
            if self.curriculum_max < end:
                self.curriculum_max = _grow(self.curriculum_max, end)
            else:  # the length is done: the count grows ("length-then-repeats")
                self.curriculum_repeats = _grow(self._count_cap(), self.cfg.task.max_repeats)
            self._running_bits = None

    # ------------------------------------------------------------ selection
    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def scheduled_lr(self) -> float:
        """The learning rate of the next step: TrainConfig.lr, annealed along a cosine
        to lr_final over the last lr_decay_part of the budget (the further on of steps
        and training seconds)."""
        t = self.cfg.train
        if t.lr_final is None:
            return t.lr
        done = 0.0
        if t.steps:
            done = max(done, self.step_count / t.steps)
        if t.time_limit:
            done = max(done, self.seconds / t.time_limit)
        # Before the last lr_decay_part of the budget the rate stays at lr.
        done = min(1.0, max(0.0, (done - (1.0 - t.lr_decay_part)) / t.lr_decay_part))
        return _cosine(t.lr, t.lr_final, done)

    def polish_scheduled_lr(self) -> float:
        """While polishing: polish_lr, annealed along a cosine to polish_lr_final over
        the attempt's first polish_lr_steps polish steps, then held there."""
        t = self.cfg.train
        return _cosine(t.polish_lr, t.polish_lr_final, min(1.0, (self.step_count - self._select_start) / t.polish_lr_steps))

    def _enter_select(self) -> None:
        """The training lengths are learned: polish, and measure on longer lengths."""
        t = self.cfg.train
        self.stage = "select"
        self._select_start = self._select_last = self.step_count
        self._attempt_select_best = math.inf  # this attempt's best selection bits
        self._first_pass = None  # step at which this attempt first met the rule
        if t.polish_lr is not None:
            self._set_lr(t.polish_lr)
        if t.ema is not None:
            self.ema_model = copy.deepcopy(self.model)
            self.ema_model.requires_grad_(False)
            self._set_backend(self.ema_model)

    def _leave_select(self) -> None:
        self.stage = "fit"
        self.ema_model = None
        self.last_select = None
        self._set_lr(self.scheduled_lr())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.cfg.train.ema
        for avg, p in zip(self.ema_model.parameters(), self.model.parameters()):
            avg.lerp_(p, 1.0 - decay)

    def selected_model(self):
        """The model selection measures: the averaged weights when TrainConfig.ema is on."""
        return self.ema_model if self.ema_model is not None else self.model

    def measure_select(self, samples: Optional[int] = None, salt: int = 1) -> Dict:
        """Wrong bits on fresh sequences of each selection length (never the same ones twice)."""
        t = self.cfg.train
        seed = (t.seed * 1_000_003 + 7 * self.step_count + salt) % (2**63)
        with repeats_fixed(self.task, t.select_repeats):
            table = evaluate_lengths(
                self.selected_model(), self.task, t.select_lengths, samples or t.select_samples, seed, device=self.device
            )
        means = {int(k): v["mean"] for k, v in table.items()}
        return {
            "bits": self._select_score(means),
            "worst": max(v["max"] for v in table.values()),
            "step": self.step_count,
            "lengths": means,
        }

    def _select_score(self, means: Dict[int, float]) -> float:
        """The candidate's selection score: the highest mean wrong bits over the selection
        lengths, the longest length's scaled by select_bits / select_long_bits, so that
        ``score <= select_bits`` is every length within its own bar."""
        t = self.cfg.train
        longest = t.long_select_length()
        if longest is None:
            return max(means.values())
        scaled = means[longest] * t.select_bits / t.select_long_bits
        return max([scaled] + [v for n, v in means.items() if n != longest])

    def _select_check(self, record: Dict) -> Optional[str]:
        """Measure the candidate; keep it if best; say "converged", None (go on), or which
        rule gave up on this attempt: "select_steps" or "select_early" (RESTART_CAUSES)."""
        t = self.cfg.train
        self._select_last = self.step_count

        longest = t.long_select_length()

        def meets(m):
            # the scaled score alone would miss the long bar when select_bits is 0
            long_ok = longest is None or m["lengths"][longest] <= t.select_long_bits
            return m["bits"] <= t.select_bits and long_ok and (t.select_max_bits is None or m["worst"] <= t.select_max_bits)

        age = self.step_count - self._select_start
        m = self.measure_select()
        may_end = self._first_pass is None or self.step_count - self._first_pass >= t.select_min_steps
        if meets(m) and t.select_confirm and may_end:
            # The confirmation decides, and its (larger) sample is the candidate's score.
            m = {**self.measure_select(t.select_confirm, salt=2), "confirmed": True}
        self.last_select = m
        self._attempt_select_best = min(self._attempt_select_best, m["bits"])
        record["select_bits"] = m["bits"]
        record["select_worst"] = m["worst"]
        passed = meets(m) and may_end
        if passed or self.best is None or (m["bits"], m["worst"]) < (self.best["bits"], self.best["worst"]):
            state = {k: v.detach().clone() for k, v in self.selected_model().state_dict().items()}
            self.best = {**m, "attempt": self.restarts, "model": state}
        if passed and self._first_pass is None and t.select_min_steps > 0:
            self._first_pass = self.step_count  # met: polish select_min_steps more, then measure again
            return None
        if passed:
            return "converged"
        pending = self._first_pass is not None and self.step_count - self._first_pass < t.select_min_steps
        if age >= t.select_steps and not pending:  # a pass waiting for its second look gets it
            return "select_steps"
        if t.select_early_steps is not None and age >= t.select_early_steps:
            if self._attempt_select_best > t.select_early_bits:
                return "select_early"
        return None

    def use_best(self) -> bool:
        """Load the best selection candidate into the model (True if there was one).

        The weights training had are kept (and saved with a checkpoint) and come back
        at the next training step, so a run stopped, saved with its best candidate
        and resumed trains on exactly as if it had never stopped."""
        if self.best is None:
            return False
        if self._train_weights is None:
            self._train_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        with torch.no_grad():
            self.model.load_state_dict(self.best["model"])
        return True

    def resize_memory(self, rows: int) -> None:
        """Evaluate with ``rows`` memory rows (NTM.resize_memory); the config follows, so
        memory estimates and saved settings see the new size. Raises ConfigError naming
        ``memory_size``."""
        if not isinstance(self.model, NTM):
            raise ConfigError("memory_size", "memory_size cannot change for the LSTM baseline, which has no memory")
        before = self.model.memory_size
        try:
            self.model.resize_memory(rows)
            # The config's checks too: the range, and room for the task's longest input.
            self.cfg = RunConfig(model=self.cfg.model.replace(memory_size=rows), task=self.cfg.task, train=self.cfg.train)
        except ValueError as exc:  # ConfigError is one
            self.model.memory_size = before
            raise ConfigError("memory_size", str(exc)) from None

    # ---------------------------------------------------------------- loops
    def validate(self, samples: Optional[int] = None) -> float:
        """Mean bit errors per sequence on fresh sequences of the full training range."""
        seed = (self.cfg.train.seed * 1_000_003 + self.step_count) % (2**63)
        was = self.model.training
        self.model.eval()
        try:
            return validate(self.model, self.task, samples or self.cfg.train.val_samples, seed, device=self.device)
        finally:
            self.model.train(was)

    def evaluate(self, lengths: Iterable[int], samples: int = 100, seed: int = 0) -> Dict[int, Dict[str, float]]:
        return evaluate_lengths(self.model, self.task, lengths, samples, seed, device=self.device)

    def run(
        self,
        steps: Optional[int] = None,
        callbacks: Iterable[Callback] = (),
        stop_event: Optional[threading.Event] = None,
        time_limit: Optional[float] = None,
        target_bits: Optional[float] = None,
        checkpoint=None,
        checkpoint_every: Optional[float] = CHECKPOINT_EVERY,
    ) -> Dict:
        """Train until ``steps`` more steps, the time limit, the target, or the stop event.

        Arguments left as None fall back to the TrainConfig. ``checkpoint``: a run
        folder saved (``save_run``) at the start when it holds no checkpoint yet and
        then every ``checkpoint_every`` seconds of training (None or 0: only at the
        start), so a killed process loses at most that interval. A model that has
        gone non-finite is never saved over the last good checkpoint.
        Returns a summary dict.
        """
        t = self.cfg.train
        steps = t.steps if steps is None else steps
        time_limit = t.time_limit if time_limit is None else time_limit
        target_bits = t.target_bits if target_bits is None else target_bits
        if steps is None and time_limit is None and target_bits is None and stop_event is None:
            raise ValueError("run() needs steps, time_limit, target_bits or a stop_event, or it would never end")
        start = time.perf_counter()
        end_step = None if steps is None else self.step_count + steps
        callbacks = list(callbacks)
        if checkpoint is not None and not (Path(checkpoint) / "checkpoint.pt").exists():
            self.checkpoint(checkpoint)
        saved_at = self.seconds
        reason = "steps"
        while True:
            if end_step is not None and self.step_count >= end_step:
                reason = "steps"
                break
            if stop_event is not None and stop_event.is_set():
                reason = "stopped"
                break
            if time_limit is not None and time.perf_counter() - start >= time_limit:
                reason = "time_limit"
                break
            record = self.train_step()
            verdict = self.after_step(record, target_bits)
            for cb in callbacks:
                cb(record)
            if checkpoint is not None and checkpoint_every and self.seconds - saved_at >= checkpoint_every:
                self.checkpoint(checkpoint)
                saved_at = self.seconds
            if verdict is not None:
                reason = verdict
                break
        return self.summary(wall=time.perf_counter() - start, reason=reason)

    def after_step(self, record: Dict, target_bits: Optional[float] = None) -> Optional[str]:
        """The stopping rule, after a step: validation on the training lengths and then
        selection on longer ones (TrainConfig.select_*). Adds what it measured to
        ``record`` and returns "converged", "select_steps" (selection gave up and there
        are no restarts) or None (go on). ``target_bits`` None: TrainConfig's."""
        t = self.cfg.train
        target_bits = t.target_bits if target_bits is None else target_bits
        if target_bits is None:
            return None
        verdict = None
        if self.stage == "fit":
            due = self.step_count - self._last_val_step >= t.val_every
            promising = self._promising(target_bits) and self.step_count - self._last_val_step >= VAL_WINDOW
            if due or promising:
                self.last_val = self.validate()
                self._last_val_step = self.step_count
                record["val_bits_per_seq"] = self.last_val
                if self.last_val < target_bits and self.curriculum_done():
                    if t.select_lengths is None:
                        self.converged = True
                        return "converged"
                    self._enter_select()
                    verdict = self._select_check(record)
        elif self.step_count - self._select_last >= t.select_every:
            verdict = self._select_check(record)
        if verdict == "converged":
            self.converged = True
            self.use_best()
            return "converged"
        gave_up = verdict in ("select_steps", "select_early")
        if gave_up and t.restart_after is not None:
            self._restart()
            record["restarts"] = self.restarts
            record["restart_why"] = verdict
            record["event"] = "restart"
            self._last_val_step = self.step_count
            return None
        if gave_up:
            return "select_steps"
        return None

    def failure(self) -> Optional[str]:
        """Why this model is unusable (non-finite weights, or only skipped steps lately), or None."""
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                return (
                    f"the model's weights became non-finite (NaN or inf) in {name}; "
                    f"{self.nonfinite_steps} of {self.step_count} steps were skipped as non-finite"
                )
        recent = self.history[-FAIL_WINDOW:]
        if recent and all(h["event"] == "nonfinite" for h in recent):
            return f"the last {len(recent)} steps all had a non-finite loss or gradient and were skipped"
        return None

    def failure_hint(self) -> str:
        t = self.cfg.train
        return f"try a lower learning rate (lr now {t.lr:g}) or a smaller gradient clip (clip now {t.clip:g})"

    def summary(self, wall: Optional[float] = None, reason: str = "") -> Dict:
        return {
            "failure": self.failure(),
            "steps": self.step_count,
            "sequences": self.sequences,
            "seconds": self.seconds if wall is None else wall,
            "train_seconds": self.seconds,
            "bits_per_seq": self.last_val,
            "converged": self.converged,
            "nonfinite_steps": self.nonfinite_steps,
            "restarts": self.restarts,
            "reason": reason,
        }

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> Dict:
        data = {
            "config": self.cfg.to_dict(),
            "baseline": self.baseline,
            "model": _cpu(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "stage": self.stage,
            "last_val_step": self._last_val_step,
            "train_model": None if self._train_weights is None else _cpu(self._train_weights),
            "ema_model": None if self.ema_model is None else _cpu(self.ema_model.state_dict()),
        }
        data.update({key: getattr(self, attr) for key, attr, _default in STATE})
        return data

    def save(self, path) -> None:
        """Save a checkpoint; refuses (CheckpointError) if the model holds NaN or inf."""
        save_checkpoint(path, self.state_dict())

    # Keys a checkpoint must hold; the rest have defaults (older checkpoints lack them).
    REQUIRED = (
        "config",
        "model",
        "optimizer",
        "generator",
        "torch_rng",
        *[key for key, _attr, default in STATE if default is REQUIRED_ENTRY],
    )

    @classmethod
    def load(cls, path, device=None, force: bool = False) -> "Trainer":
        """A trainer exactly as saved. Every problem with the file (unreadable, missing
        keys, an invalid config, tensors of the wrong shape, a model too big for this
        machine's memory) raises CheckpointError naming the file, before the model is
        allocated where it can be checked first. ``force``: skip the memory check."""
        data = load_checkpoint(path)
        missing = [k for k in cls.REQUIRED if k not in data]
        if missing:
            raise CheckpointError(f"{path} is incomplete: it has no {missing[0]!r} entry")
        try:
            cfg = RunConfig.from_dict(data["config"])
        except (ConfigError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path} holds an invalid config: {exc}") from None
        baseline = data.get("baseline", False)  # a dict of the LSTM's sizes, or a bool
        if not isinstance(baseline, dict):
            baseline = bool(baseline)
        if not baseline:
            _check_model_tensors(path, cfg, data["model"], force)
        try:
            trainer = cls(cfg, device=device, baseline=baseline)
            trainer._load_state(data)
        except CheckpointError:
            raise
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CheckpointError(f"{path} is corrupt: {type(exc).__name__}: {first}") from None
        return trainer

    def _load_state(self, data: Dict) -> None:
        self.model.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.generator.set_state(data["generator"])
        torch.set_rng_state(data["torch_rng"])
        for key, attr, default in STATE:
            value = data[key] if default is REQUIRED_ENTRY else data.get(key, default)
            setattr(self, attr, list(value) if isinstance(default, list) or key == "history" else value)
        self.step_count, self.sequences, self.seconds = int(self.step_count), int(self.sequences), float(self.seconds)
        if data.get("stage") == "select":
            best, select = (
                self.best,
                (self._select_start, self._select_last, self.last_select, self._attempt_select_best, self._first_pass),
            )
            self._enter_select()  # sets the polish lr and a fresh average, replaced below
            self.best = best
            self._select_start, self._select_last, self.last_select, self._attempt_select_best, self._first_pass = select
            if data.get("ema_model") is not None and self.ema_model is not None:
                self.ema_model.load_state_dict(data["ema_model"])
            self.optimizer.load_state_dict(data["optimizer"])
        # Checkpoints without it were written when every run() restarted the schedule.
        self._last_val_step = data.get("last_val_step", self.step_count)
        self._train_weights = data.get("train_model")
        since = [h for h in self.history if h["step"] > self._attempt_start]
        self._recent = [h["bits_per_seq"] for h in since[-VAL_WINDOW:]]

    # -------------------------------------------------------------- run dirs
    def save_run(self, run_dir) -> Path:
        """A run folder: checkpoint.pt (the whole state), then config.json and
        history.json (copies for people and other tools; ``load_run`` rewrites them
        from the checkpoint if a kill came between the writes)."""
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.save(run_dir / "checkpoint.pt")
        write_json(run_dir / "config.json", self.cfg.to_dict())
        write_json(run_dir / "history.json", self.history)
        return run_dir

    def checkpoint(self, run_dir) -> bool:
        """``save_run`` unless the model is unusable (``failure``): then the last good
        checkpoint stays. True if saved."""
        if self.failure() is not None:
            return False
        self.save_run(run_dir)
        self.checkpoint_step = self.step_count
        return True

    @classmethod
    def load_run(cls, run_dir, device=None, force: bool = False) -> "Trainer":
        run_dir = Path(run_dir)
        trainer = cls.load(run_dir / "checkpoint.pt", device=device, force=force)
        _repair_copies(run_dir, trainer)
        return trainer


def _check_model_tensors(path, cfg: RunConfig, tensors, force: bool) -> None:
    """The checkpoint's tensors against the shapes its config implies, and the config
    against this machine's memory, using a model built on the "meta" device (no memory)."""
    from ..limits import TRAIN_PARAM_BYTES, MemoryLimitError, check_fits

    task = make_task(cfg.task)
    with torch.device("meta"):
        meta = NTM.from_config(cfg.model, task.input_size, task.output_size)
    expected = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{path}: its 'model' entry is not a set of tensors")
    for name, shape in expected.items():
        got = tensors.get(name)
        if got is None:
            raise CheckpointError(f"{path} does not match its config: no tensor {name!r}")
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != shape:
            got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(f"{path} does not match its config: {name} is {got_shape}, the config needs {shape}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise CheckpointError(f"{path} does not match its config: unexpected tensor {extra[0]!r}")
    params = sum(p.numel() for p in meta.parameters())
    try:
        check_fits(f"the model in {path} ({params:,} parameters)", TRAIN_PARAM_BYTES * params, force)
    except MemoryLimitError as exc:
        raise CheckpointError(str(exc)) from None


def _repair_copies(run_dir: Path, trainer: "Trainer") -> None:
    """config.json and history.json as the checkpoint says (a kill may have come between)."""
    try:
        history = json.loads((run_dir / "history.json").read_text())
        current = isinstance(history, list) and len(history) == len(trainer.history)
        current = current and json.loads((run_dir / "config.json").read_text()) == json.loads(json.dumps(trainer.cfg.to_dict()))
    except (OSError, ValueError):
        current = False
    if not current:
        try:
            write_json(run_dir / "config.json", trainer.cfg.to_dict())
            write_json(run_dir / "history.json", trainer.history)
        except OSError:
            pass  # a read-only folder: the checkpoint alone is enough to load
