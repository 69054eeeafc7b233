"""The fused CPU step (core/fused.py) computes what the eager PyTorch path computes.

``NTM.forward`` runs the fused C kernels when ``model.fused`` is True and they can be
built here, else its eager path. In float64 both must agree to rounding in logits, the
final state, every recorded trace and every gradient; in float32 (the training dtype)
closely. Without a C compiler, or with ``NTM_WIDGETS_FUSED=0``, the eager path runs
instead: the fallback tests check that in fresh processes, and run everywhere; the
equivalence tests need the kernels and are skipped (with the reason) without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F
from test_speed_paths import CONFIGS, _model

from ntm_widgets.config import ConfigError, ModelConfig, RunConfig, TaskConfig, TrainConfig
from ntm_widgets.core import fused
from ntm_widgets.core.ntm import NTM, NTMState
from ntm_widgets.tasks import make_task

needs_fused = pytest.mark.skipif(not fused.available(), reason=f"fused CPU step unavailable: {fused.unavailable_reason()}")

# The fast-path configurations (LSTM 1+1 heads; 2 read + 3 write heads, shifts -2..2;
# feedforward without shifts) and a learned initial memory.
FUSED_CONFIGS = CONFIGS + [dict(memory_size=12, word_size=5, controller_size=16, memory_init="learned")]
TIGHT = dict(rtol=1e-10, atol=1e-12)


def _inputs(batch=3, steps=7, size=5, seed=1, dtype=torch.float64):
    return torch.randint(0, 2, (batch, steps, size), generator=torch.Generator().manual_seed(seed)).to(dtype)


def _run(model, x, use_fused, state=None, record=None):
    model.fused = use_fused
    return model(x, state=state, record=record)


def _state_loss(logits, state: NTMState):
    """A loss that reaches every part of the final state as well as the logits."""
    loss = logits.sin().sum() + state.memory.sum() + state.weights.pow(2).sum() + state.reads.cos().sum()
    return loss + sum(part.pow(2).sum() for part in state.controller)


def _grads(model, x, use_fused):
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    logits, state = _run(model, x, use_fused)
    _state_loss(logits, state).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    grads["<inputs>"] = x.grad
    return grads


def _graph_size(t: torch.Tensor) -> int:
    """Autograd nodes behind ``t``: the eager path builds dozens per time step, the
    fused one a few per sequence, so this tells which path ran."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return len(seen)


def _assert_states_close(a: NTMState, b: NTMState, **tol):
    for name in ("memory", "weights", "reads"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), **tol, msg=lambda m, name=name: f"state.{name}: {m}")
    assert len(a.controller) == len(b.controller)
    for x, y in zip(a.controller, b.controller):
        torch.testing.assert_close(x, y, **tol)


def _assert_records_close(a: dict, b: dict, **tol):
    assert set(a) == set(b)
    for key in b:
        if isinstance(b[key], torch.Tensor):
            assert a[key].shape == b[key].shape, key
            torch.testing.assert_close(a[key], b[key], **tol, msg=lambda m, key=key: f"record[{key!r}]: {m}")
        else:
            assert a[key] == b[key], key


@pytest.fixture(params=["blas", "python"])
def time_loop(request, monkeypatch):
    """Both drivers of the time loop: one C call per sequence with torch's own BLAS for
    the products (where it is found), and the Python loop with torch.addmm."""
    if request.param == "blas":
        fused.library()
        if fused._gemm is None:
            pytest.skip("no BLAS gemm found in torch's libraries")
    monkeypatch.setattr(fused, "use_blas", request.param == "blas")
    return request.param


@needs_fused
@pytest.mark.parametrize("kw", FUSED_CONFIGS)
@pytest.mark.parametrize("batch", [3, 19])
def test_fused_matches_eager_in_float64(kw, batch, time_loop):
    # The kernels cut the batch into blocks of one vector register (8 doubles): 3 is a
    # remainder only, 19 two full blocks and a remainder.
    model = _model(kw)
    x = _inputs(batch=batch)
    rec_f, rec_e = {}, {}
    logits_f, state_f = _run(model, x, True, record=rec_f)
    logits_e, state_e = _run(model, x, False, record=rec_e)
    assert _graph_size(logits_f) < _graph_size(logits_e) / 2  # the fused path did run
    torch.testing.assert_close(logits_f, logits_e, **TIGHT)
    _assert_states_close(state_f, state_e, **TIGHT)
    _assert_records_close(rec_f, rec_e, **TIGHT)
    grads_f, grads_e = _grads(model, x, True), _grads(model, x, False)
    assert set(grads_f) == set(grads_e) == {name for name, _ in model.named_parameters()} | {"<inputs>"}
    for name in grads_e:
        torch.testing.assert_close(grads_f[name], grads_e[name], **TIGHT, msg=lambda m, name=name: f"grad of {name}: {m}")


@needs_fused
@pytest.mark.parametrize("batch", [1, 4, 37])
def test_fused_matches_eager_in_float32_at_paper_size(batch, time_loop):
    # Graves et al.'s copy set-up: 128 x 20 memory, LSTM 100, 9 inputs; 41 steps.
    # Measured here: logits differ by <= 1.2e-7, gradients by <= 1.2e-5 (|g| up to ~50).
    # Batch 1 runs the kernel compiled for one sequence; 37 = two blocks of 16 floats
    # and a remainder.
    task = make_task(TaskConfig(name="copy", width=8, min_len=20, max_len=20))
    x, y, _ = task.sample(batch, torch.Generator().manual_seed(0), length=20)
    torch.manual_seed(0)
    model = NTM(task.input_size, task.output_size, memory_size=128, word_size=20, controller_size=100)
    results = {}
    for use_fused in (True, False):
        model.zero_grad(set_to_none=True)
        logits, state = _run(model, x, use_fused)
        (F.binary_cross_entropy_with_logits(logits, y, reduction="sum") + state.memory.sum()).backward()
        results[use_fused] = logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}
    (logits_f, grads_f), (logits_e, grads_e) = results[True], results[False]
    assert logits_f.dtype == torch.float32
    torch.testing.assert_close(logits_f, logits_e, rtol=1e-4, atol=1e-5)
    for name in grads_e:
        torch.testing.assert_close(
            grads_f[name], grads_e[name], rtol=1e-3, atol=1e-4, msg=lambda m, name=name: f"grad of {name}: {m}"
        )


@needs_fused
@pytest.mark.parametrize("kw", FUSED_CONFIGS[:2])
def test_continuing_from_a_state_equals_one_call(kw):
    """Two halves, the second started from the first's final state: the same logits
    and the same gradients (through the state handed over) as one call."""
    model = _model(kw)
    x = _inputs(steps=9)
    model.fused = True
    model.zero_grad(set_to_none=True)
    whole, state_whole = model(x)
    _state_loss(whole, state_whole).backward()
    grads_whole = {name: p.grad.clone() for name, p in model.named_parameters()}

    model.zero_grad(set_to_none=True)
    first, mid = model(x[:, :4])
    second, state_end = model(x[:, 4:], state=mid)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, **TIGHT)
    _assert_states_close(state_end, state_whole, **TIGHT)
    _state_loss(torch.cat([first, second], 1), state_end).backward()
    for name, grad in grads_whole.items():
        torch.testing.assert_close(
            dict(model.named_parameters())[name].grad, grad, **TIGHT, msg=lambda m, name=name: f"grad of {name}: {m}"
        )


@needs_fused
@pytest.mark.parametrize("kw", FUSED_CONFIGS[:2])
def test_gradients_reach_a_given_initial_state(kw):
    """A state passed in with requires_grad gets the same gradients on both paths."""
    model = _model(kw)
    x = _inputs()
    g = torch.Generator().manual_seed(2)
    base = model.initial_state(x.shape[0], dtype=x.dtype)
    start = NTMState(
        torch.randn(base.memory.shape, generator=g, dtype=x.dtype),
        torch.softmax(torch.randn(base.weights.shape, generator=g, dtype=x.dtype), -1),
        torch.randn(base.reads.shape, generator=g, dtype=x.dtype),
        tuple(torch.randn(c.shape, generator=g, dtype=x.dtype) for c in base.controller),
    )
    grads = {}
    for use_fused in (True, False):
        leaves = [t.clone().requires_grad_(True) for t in (start.memory, start.weights, start.reads, *start.controller)]
        state = NTMState(leaves[0], leaves[1], leaves[2], tuple(leaves[3:]))
        logits, final = _run(model, x, use_fused, state=state)
        _state_loss(logits, final).backward()
        grads[use_fused] = [leaf.grad for leaf in leaves]
    for got, want in zip(grads[True], grads[False]):
        torch.testing.assert_close(got, want, **TIGHT)


@needs_fused
@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_forward_without_grad_equals_forward_with_grad(mode):
    model = _model(FUSED_CONFIGS[1])
    model.fused = True
    x = _inputs()
    rec, rec_ng = {}, {}
    logits, state = model(x, record=rec)
    assert logits.requires_grad
    with torch.no_grad() if mode == "no_grad" else torch.inference_mode():
        logits_ng, state_ng = model(x, record=rec_ng)
    assert not logits_ng.requires_grad
    torch.testing.assert_close(logits_ng, logits.detach(), **TIGHT)
    _assert_states_close(state_ng, state, **TIGHT)
    _assert_records_close(rec_ng, rec, **TIGHT)


# ----------------------------------------------------------------- training
def _tiny_run(**train):
    return RunConfig(
        model=ModelConfig(memory_size=8, word_size=4, controller_size=16),
        task=TaskConfig(name="copy", width=3, min_len=1, max_len=4),
        train=TrainConfig(batch_size=4, seed=3, val_samples=8, **train),
    )


def _trained(steps=4, baseline=False, **train):
    from ntm_widgets.training.trainer import Trainer

    trainer = Trainer(_tiny_run(**train), baseline=baseline)
    metrics = [trainer.train_step() for _ in range(steps)]
    return trainer, metrics


@needs_fused
def test_trainer_with_fused_step_is_deterministic():
    a, _ = _trained(fused=True)
    b, _ = _trained(fused=True)
    assert a.model.fused is True
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert set(state_a) == set(state_b)
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


def test_trainer_follows_the_fused_setting():
    eager, metrics = _trained(fused=False)
    assert eager.model.fused is False
    assert all(m["loss"] is not None and torch.isfinite(torch.tensor(m["loss"])) for m in metrics)
    eager.update(fused=True)
    eager.train_step()
    assert eager.model.fused is True
    baseline, metrics = _trained(steps=1, baseline=True, fused=True)  # no fused step: ignored
    assert not hasattr(baseline.model, "fused") and metrics[0]["loss"] is not None


def test_fused_setting_is_validated_and_old_configs_load():
    with pytest.raises(ConfigError, match="fused must be true or false") as err:
        TrainConfig(fused="yes")
    assert err.value.field == "fused"
    saved = TrainConfig().to_dict()
    del saved["fused"]  # a config saved before the setting existed
    assert TrainConfig.from_dict(saved).fused is True
    assert RunConfig.from_dict({"train": saved}).train.fused is True


# ---------------------------------------------------------------- fallbacks
CHILD = r"""
import json, warnings
import torch
from ntm_widgets.core import fused
from ntm_widgets.core.ntm import NTM

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    torch.manual_seed(0)
    model = NTM(5, 4, memory_size=12, word_size=5, controller_size=16)
    logits, _ = model(torch.ones(2, 3, 5))
    available = fused.available()
print(json.dumps({"available": available, "reason": fused.unavailable_reason(), "logits": logits.tolist(),
                  "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
"""


def _child(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("NTM_WIDGETS_FUSED", "CC")}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", CHILD], env=full, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _eager_logits():
    torch.manual_seed(0)
    model = NTM(5, 4, memory_size=12, word_size=5, controller_size=16)
    model.fused = False
    with torch.no_grad():
        return model(torch.ones(2, 3, 5))[0]


def test_turned_off_by_environment_runs_eager_without_warning():
    result = _child(NTM_WIDGETS_FUSED="0")
    assert result["available"] is False
    assert "NTM_WIDGETS_FUSED" in result["reason"]
    assert not [w for w in result["warnings"] if w.startswith("RuntimeWarning")], result["warnings"]
    torch.testing.assert_close(torch.tensor(result["logits"]), _eager_logits(), rtol=1e-5, atol=1e-6)


def test_without_a_compiler_warns_and_runs_eager(tmp_path):
    result = _child(CC="/nonexistent/cc", NTM_WIDGETS_CACHE=str(tmp_path / "cache"))
    assert result["available"] is False
    assert "compiler" in result["reason"].lower(), result["reason"]
    assert any(w.startswith("RuntimeWarning") and "fused" in w for w in result["warnings"]), result["warnings"]
    torch.testing.assert_close(torch.tensor(result["logits"]), _eager_logits(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- CLI
def test_fused_flags_reach_the_config():
    from ntm_widgets.cli import build_parser, config_from_args, demo_config

    parser = build_parser()
    assert config_from_args(parser.parse_args(["train", "--steps", "1"])).train.fused is True
    assert config_from_args(parser.parse_args(["train", "--steps", "1", "--no-fused"])).train.fused is False
    assert parser.parse_args(["demo"]).fused is True and parser.parse_args(["demo", "--no-fused"]).fused is False
    assert demo_config("quick", fused=False).train.fused is False and demo_config("paper").train.fused is True
    assert parser.parse_args(["bench"]).fused is True and parser.parse_args(["bench", "--no-fused"]).fused is False


@pytest.mark.parametrize("flag", ["--no-fused", None])
def test_bench_reports_whether_the_fused_step_ran(capsys, flag):
    from ntm_widgets.cli import main

    argv = [
        "bench",
        "--batch-size",
        "2",
        "--length",
        "3",
        "--steps",
        "2",
        "--memory-size",
        "16",
        "--word-size",
        "4",
        "--controller-size",
        "16",
        "--json",
    ]
    code = main(argv + ([flag] if flag else []))
    out, _ = capsys.readouterr()
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["fused"] is (flag is None and fused.available())
    assert result["train_seq_per_s"] > 0


def test_bench_inference_reports_whether_the_fused_step_ran():
    from ntm_widgets.bench import bench_inference

    for use_fused in (False, True):
        result = bench_inference(length=2, repeats=1, memory_size=16, word_size=4, controller_size=16, fused=use_fused)
        assert result["fused"] is (use_fused and fused.available())


# ------------------------------------------------------------ parallel batch parts
@needs_fused
@pytest.mark.parametrize("kw", FUSED_CONFIGS)
def test_batch_split_over_threads_gives_the_same_results(kw, time_loop):
    """fused_threads = 2 cuts a batch of 40 into two parts of 20 run on two threads:
    the same logits, final state and gradients (parameters, inputs, initial state)."""
    model = _model(kw)
    x = _inputs(batch=40)
    state0 = model.initial_state(40, dtype=torch.float64)
    results = {}
    for threads in (1, 2):
        model.fused, model.fused_threads = True, threads
        model.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_(True)
        memory0 = state0.memory.detach().clone().requires_grad_(True)
        logits, state = model(xx, state=state0._replace(memory=memory0))
        _state_loss(logits, state).backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results[threads] = logits.detach(), state, grads, xx.grad, memory0.grad
    (l1, s1, g1, x1, m1), (l2, s2, g2, x2, m2) = results[1], results[2]
    assert set(g1) == set(g2) and len(g1) >= 6 and m1 is not None
    torch.testing.assert_close(l2, l1, **TIGHT)
    _assert_states_close(s2, s1, **TIGHT)
    for name in g1:
        torch.testing.assert_close(g2[name], g1[name], **TIGHT, msg=lambda m, name=name: f"grad of {name}: {m}")
    torch.testing.assert_close(x2, x1, **TIGHT)
    torch.testing.assert_close(m2, m1, **TIGHT)


def test_parts_are_never_smaller_than_a_vector_register():
    assert fused.chunks_for(32, 2) == 2
    assert fused.chunks_for(31, 2) == 1  # two parts of 15 and 16 would waste vector lanes
    assert fused.chunks_for(1, 8) == 1
    assert fused.chunks_for(128, 3) == 3
    assert fused.chunks_for(64, 1) == 1


def test_fused_threads_reach_the_model_and_sweeps_use_one():
    from ntm_widgets.cli import build_parser, config_from_args
    from ntm_widgets.config import resolve_fused_threads
    from ntm_widgets.training.trainer import Trainer

    parser = build_parser()
    assert config_from_args(parser.parse_args(["train", "--steps", "1"])).train.fused_threads is None
    assert config_from_args(parser.parse_args(["train", "--steps", "1", "--fused-threads", "3"])).train.fused_threads == 3
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert resolve_fused_threads(None) == min(2, cpus) and resolve_fused_threads(5) == 5
    trainer = Trainer(
        RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8),
            task=TaskConfig(max_len=4),
            train=TrainConfig(batch_size=4, fused_threads=3),
        )
    )
    assert trainer.model.fused_threads == 3
    trainer.update(fused_threads=1)
    trainer.train_step()
    assert trainer.model.fused_threads == 1

    from ntm_widgets.sweep import run_trial

    seen = {}
    original = Trainer.__init__

    def spy(self, cfg=None, *args, **kwargs):
        seen["fused_threads"] = cfg.train.fused_threads
        original(self, cfg, *args, **kwargs)

    import ntm_widgets.training.trainer as trainer_module

    trainer_module.Trainer.__init__ = spy
    try:
        cfg = RunConfig(
            model=ModelConfig(memory_size=8, word_size=4, controller_size=8),
            task=TaskConfig(max_len=4),
            train=TrainConfig(batch_size=4, steps=2, val_samples=4),
        )
        run_trial({"config": cfg.to_dict(), "eval_lengths": [], "samples": 4, "eval_seed": 0, "threads": 1})
    finally:
        trainer_module.Trainer.__init__ = original
    assert seen["fused_threads"] == 1


def test_the_quick_preset_trains_on_one_fused_thread_unless_told_otherwise():
    # Its steps are too small to gain from splitting (benchmarks/NOTES.md); the paper
    # preset keeps the machine's default. The demo and the Playground take the preset's.
    from ntm_widgets.cli import build_parser, config_from_args, demo_config
    from ntm_widgets.config import preset
    from ntm_widgets.widgets.playground import DEFAULT_CONFIG

    assert preset("quick").train.fused_threads == 1 and preset("paper").train.fused_threads is None
    assert demo_config("quick").train.fused_threads == 1 and DEFAULT_CONFIG.train.fused_threads == 1
    assert demo_config("quick", fused_threads=2).train.fused_threads == 2
    parser = build_parser()
    given = parser.parse_args(["train", "--preset", "quick", "--fused-threads", "2"])
    assert config_from_args(given).train.fused_threads == 2
    assert config_from_args(parser.parse_args(["train", "--preset", "quick"])).train.fused_threads == 1


# ------------------------------------------------------------ edges (from review)
@needs_fused
def test_double_backward_refuses_instead_of_dropping_terms():
    model = _model(FUSED_CONFIGS[0])
    model.fused = True
    logits, _ = model(_inputs())
    (grad,) = torch.autograd.grad(logits.pow(2).sum(), [model.head_proj.weight], create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(grad.pow(2).sum(), [model.head_proj.weight])


@needs_fused
def test_an_empty_batch_gives_empty_results_like_eager():
    model = _model(FUSED_CONFIGS[0])
    x = _inputs(batch=0)
    logits_f, state_f = _run(model, x, True)
    logits_e, state_e = _run(model, x, False)
    assert logits_f.shape == logits_e.shape == (0, x.shape[1], 4)
    assert state_f.memory.shape == state_e.memory.shape


@needs_fused
def test_the_final_state_does_not_hold_the_step_buffers():
    """A kept final state is its own small tensors, not views into every step's memory."""
    model = _model(FUSED_CONFIGS[0])
    model.fused = True
    for batch in (1, 3):
        _, state = model(_inputs(batch=batch, steps=9))
        _assert_own_storage(state)


def _assert_own_storage(state):
    for part in (state.memory, state.weights, state.reads, *state.controller):
        assert part.untyped_storage().nbytes() == part.numel() * part.element_size()


def test_first_use_under_autocast_and_a_compiler_with_arguments_still_build(tmp_path):
    """The BLAS check runs outside autocast; CC may carry arguments (e.g. "ccache gcc")."""
    code = (
        "import torch\n"
        "from ntm_widgets.core import fused\n"
        "with torch.autocast('cpu', dtype=torch.bfloat16):\n"
        "    ok = fused.available()\n"
        "print(ok, fused.available(), fused.unavailable_reason())\n"
    )
    # Builds of an older source: one stale (pruned after a new build), one recent (kept).
    stale, recent = tmp_path / "fused-0000000000000000.so", tmp_path / "fused-1111111111111111.so"
    stale.write_bytes(b"old"), recent.write_bytes(b"new")
    month_ago = time.time() - 30 * 86400
    os.utime(stale, (month_ago, month_ago))
    env = dict(os.environ, NTM_WIDGETS_CACHE=str(tmp_path), CC="env cc")
    env.pop("NTM_WIDGETS_FUSED", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    if "no C compiler" in out.stdout:
        pytest.skip("no C compiler here")
    assert out.stdout.split()[:2] == ["True", "True"], out.stdout + out.stderr[-2000:]
    assert len(list(tmp_path.glob("fused-*.so"))) == 2  # the new build and the recent one
    assert recent.exists() and not stale.exists()


# ------------------------------------------------------- one description of the layout
def test_head_rows_take_every_projection_row_once_grouped_by_kind():
    from ntm_widgets.core.heads import Head

    heads = [Head("read", 4, 2), Head("write", 4, 2)]
    rows = fused.head_rows(tuple(h.fields for h in heads))
    P = sum(h.param_size for h in heads)
    assert sorted(rows.perm.tolist()) == list(range(P)) and rows.c_rows.P == P
    assert rows.perm[rows.inverse].tolist() == list(range(P))
    starts = {name: getattr(rows.c_rows, name) for name in fused.ROW_ORDER}
    assert starts == {"key": 0, "add": 8, "beta": 12, "gamma": 14, "g": 16, "erase": 18, "s": 22}
    # The read head's shift logits (its slice's rows 6..10, offsets -2..2) run from +2 down.
    assert rows.perm[22:27].tolist() == [10, 9, 8, 7, 6]


@needs_fused
def test_a_head_layout_change_is_made_in_one_place(monkeypatch, time_loop):
    """``Head.fields`` alone says where each head parameter lies in the projection:
    with the fields in another order, the fused step (its rows built from that) still
    agrees with the eager path in float64, forward and backward."""
    from ntm_widgets.core.heads import Head

    fields = Head.fields.fget
    monkeypatch.setattr(Head, "fields", property(lambda head: tuple(reversed(fields(head)))))
    model = _model(FUSED_CONFIGS[1])
    assert model.heads[-1].offsets()["add"] == 0
    x = _inputs(batch=5)
    rec_f, rec_e = {}, {}
    logits_f, state_f = _run(model, x, True, record=rec_f)
    logits_e, state_e = _run(model, x, False, record=rec_e)
    torch.testing.assert_close(logits_f, logits_e, **TIGHT)
    _assert_states_close(state_f, state_e, **TIGHT)
    _assert_records_close(rec_f, rec_e, **TIGHT)
    grads_f, grads_e = _grads(model, x, True), _grads(model, x, False)
    for name in grads_e:
        torch.testing.assert_close(grads_f[name], grads_e[name], **TIGHT, msg=lambda m, name=name: f"grad of {name}: {m}")


@needs_fused
def test_sharpening_a_flat_weighting_with_a_large_gamma_stays_finite():
    # float32, 128 rows, every head's gamma ~ 40 and a flat content weighting: u ** gamma
    # underflows to 0 on every row, and a plain renormalisation gives 0 / 0 = NaN.
    from ntm_widgets.core.addressing import sharpen

    flat = torch.full((2, 128), 1.0 / 128)
    assert torch.allclose(sharpen(flat, torch.full((2, 1), 40.0)), flat)
    torch.manual_seed(0)
    model = NTM(5, 4, memory_size=128, word_size=20, controller_size=16, controller="feedforward")
    with torch.no_grad():
        pos = 0
        for head in model.heads:
            at = head.offsets()
            model.head_proj.bias[pos + at["gamma"]] = 40.0  # gamma = 1 + softplus(40)
            model.head_proj.bias[pos + at["g"]] = 10.0  # all content, which is flat on a constant memory
            model.head_proj.bias[pos + at["beta"]] = -20.0
            pos += head.param_size
    x = _inputs(batch=4, steps=6, dtype=torch.float32)
    for use_fused in (True, False):
        model.zero_grad(set_to_none=True)
        logits, state = _run(model, x, use_fused)
        _state_loss(logits, state).backward()
        assert torch.isfinite(logits).all() and torch.isfinite(state.weights).all(), use_fused
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None), use_fused


def test_a_layout_first_seen_under_inference_mode_still_trains():
    # The kernels' row order is cached per head layout; evaluating a model first (under
    # torch.inference_mode) must not leave a cached tensor that training cannot use.
    from ntm_widgets.core import NTM
    from ntm_widgets.core import fused as fused_mod

    if not fused_mod.available():
        pytest.skip(fused_mod.unavailable_reason())
    model = NTM(5, 4, memory_size=11, word_size=7, controller_size=9, num_read_heads=3, shift_range=2)
    x = torch.randn(2, 6, 5)
    with torch.inference_mode():
        model(x)
    y, _ = model(x)
    y.sum().backward()
    assert model.head_proj.weight.grad is not None and model.head_proj.weight.grad.abs().sum() > 0


def _noisy_pass(model, x, use_fused, seed=7):
    torch.manual_seed(seed)  # the noise comes from torch's global generator
    model.zero_grad(set_to_none=True)
    logits, state = _run(model, x, use_fused)
    _state_loss(logits, state).backward()
    return logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@needs_fused
@pytest.mark.parametrize("kw", CONFIGS[::2])  # an LSTM and a feed-forward controller
def test_gate_noise_is_the_same_on_both_paths_and_only_while_training(kw):
    model = _model(kw)
    x = _inputs(batch=5)
    model.train()
    clean_f, _ = _noisy_pass(model, x, True)
    model.gate_noise = 0.5
    noisy_f, grads_f = _noisy_pass(model, x, True)
    noisy_e, grads_e = _noisy_pass(model, x, False)
    # Noise changes a training pass, by the same draw on both paths.
    assert (noisy_f - clean_f).abs().max() > 1e-3
    torch.testing.assert_close(noisy_f, noisy_e, **TIGHT)
    for name in grads_e:
        torch.testing.assert_close(grads_f[name], grads_e[name], **TIGHT, msg=lambda m, name=name: f"grad of {name}: {m}")
    # Another draw, another pass.
    other, _ = _noisy_pass(model, x, True, seed=8)
    assert (other - noisy_f).abs().max() > 1e-3
    # Evaluation sees no noise: in eval mode, or without gradients.
    with torch.no_grad():
        torch.testing.assert_close(_run(model, x, True)[0], clean_f, **TIGHT)
    model.eval()
    torch.testing.assert_close(_run(model, x, True)[0].detach(), clean_f, **TIGHT)


@needs_fused
def test_the_trainer_gives_the_model_its_gate_noise_and_it_changes_training():
    quiet, _ = _trained(steps=3)
    noisy, _ = _trained(steps=3, gate_noise=0.5)
    assert noisy.model.gate_noise == 0.5 and quiet.model.gate_noise == 0.0
    changed = [n for n, p in noisy.model.state_dict().items() if not torch.equal(p, quiet.model.state_dict()[n])]
    assert "controller.cell.weight_ih" in changed
    again, _ = _trained(steps=3, gate_noise=0.5)  # and it is deterministic
    assert all(torch.equal(p, again.model.state_dict()[n]) for n, p in noisy.model.state_dict().items())
    with pytest.raises(ConfigError, match="gate_noise"):
        TrainConfig(gate_noise=-0.1)


def test_polishing_takes_its_own_gate_noise():
    trainer, _ = _trained(steps=1, gate_noise=0.1, polish_gate_noise=0.7)
    assert trainer.model.gate_noise == 0.1
    trainer.stage = "select"  # what the trainer's stopping rule sets once the target is met
    trainer.train_step()
    assert trainer.model.gate_noise == 0.7
    plain, _ = _trained(steps=1, gate_noise=0.1)
    plain.stage = "select"
    plain.train_step()
    assert plain.model.gate_noise == 0.1  # unset: the same as the rest of training
