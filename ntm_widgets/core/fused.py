"""The fused CPU step (issue 3): the NTM's recurrent loop as compiled C.

Why. On a CPU one NTM time step in eager PyTorch is ~100 tiny tensor operations
(forward and backward), each costing a few microseconds of dispatch and autograd
bookkeeping, and the memory-sized ones each making a separate pass over B x N x M
values. Here one C call per time step does the head activations, the addressing of
every head (eq. 5-9), the write (eq. 3-4), the row norms and the reads (eq. 2), and
another the LSTM cell's pointwise part; the data are laid out batch innermost so every
loop vectorises over the batch (fused_body.h). The backward is written by hand (derived
from eq. 2-9; tests/test_fused.py checks it against autograd through the reference
functions) and runs as one autograd node for the whole sequence; weight gradients are
one matmul each over all time steps.

The time loop itself runs in C too (``ntm_seq_fwd`` / ``ntm_seq_bwd``), calling the BLAS
that torch loaded (``sgemm_`` / ``dgemm_`` from libtorch_cpu, checked on load) for the
controller and head products: one call from Python per sequence. Where that BLAS is not
found the loop runs in Python with ``torch.addmm`` (``use_blas = False`` forces it). A
batch of 32 or more can be cut into parts trained on parallel threads (``threads``,
``chunks_for``): the sequences are independent.

What it takes. ``forward`` works on plain tensors: the parameters (``Weights``), the
initial state, the sizes (``Dims``) and where each head parameter lies among the head
projection's rows (``head_rows``, built from ``Head.fields`` and handed to C at call
time as ``ntm_rows_t``). It knows nothing of the NTM module, which calls it.

How. ``fused.c`` / ``fused_body.h`` ship with the package and are compiled on first use
with the system's C compiler (``$CC``, else ``cc``; one to two seconds) into a per-user
cache (``$NTM_WIDGETS_CACHE``, else ``~/.cache/ntm-widgets``), keyed by the source,
compiler and CPU. Without a compiler, or with ``NTM_WIDGETS_FUSED=0``, ``available()``
is False and the NTM runs its eager path, the reference functions under autograd: same
maths (tests/test_fused.py checks forward, recorded traces and every gradient against
it in float64), different rounding in float32.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shlex
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

_HERE = Path(__file__).resolve().parent
_SOURCES = ("fused.c", "fused_body.h")
# Tried in order: vector maths from glibc's libmvec, then without it, then without
# -march=native (a compiler that lacks it).
_BUILDS = (
    ("-O3", "-march=native", "-fno-math-errno", "-fopenmp-simd", "-DNTM_MVEC", "-shared", "-fPIC", "@", "-lmvec", "-lm"),
    ("-O3", "-march=native", "-fno-math-errno", "-fopenmp-simd", "-shared", "-fPIC", "@", "-lm"),
    ("-O3", "-fno-math-errno", "-shared", "-fPIC", "@", "-lm"),
)
_lock = threading.Lock()
_lib = None
_tried = False
_error: Optional[str] = None

_I, _P = ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "ntm_mem_fwd": [_I] * 6 + [_P] * 10,
    "ntm_mem_bwd": [_I] * 6 + [_P] * 12,
    "lstm_fwd": [_I] + [_P] * 4,
    "lstm_bwd": [_I] + [_P] * 6,
    "ntm_seq_fwd": [_P] + [_I] * 10 + [_P] * 13,
    "ntm_seq_bwd": [_P] + [_I] * 9 + [_P] * 17,
}


def cache_dir() -> Path:
    env = os.environ.get("NTM_WIDGETS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ntm-widgets"


def _cpu_id() -> str:
    """Enough of the CPU's identity that a library built with -march=native is not
    loaded on a CPU that lacks its instructions."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() + platform.machine()


def _build() -> Path:
    cc = shlex.split(os.environ.get("CC") or "cc")  # "ccache gcc" is a compiler too
    sources = b"".join((_HERE / name).read_bytes() for name in _SOURCES)
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise RuntimeError(f"no C compiler ({' '.join(cc)}): {exc}") from None
    key = hashlib.sha256(sources + version.encode() + repr(_BUILDS).encode() + _cpu_id().encode()).hexdigest()[:16]
    target = cache_dir() / f"fused-{key}{'.dll' if os.name == 'nt' else '.so'}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target, then rename: parallel sweep workers may race here.
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        for flags in _BUILDS:
            at = flags.index("@")
            cmd = [*cc, *flags[:at], "-o", tmp, str(_HERE / "fused.c"), *flags[at + 1 :]]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if proc.returncode == 0:
                os.replace(tmp, target)
                _prune(target)
                return target
        raise RuntimeError(f"compiling the fused step failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


STALE_DAYS = 7


def _prune(keep: Path) -> None:
    """Remove other builds (older versions of the source) and leftovers of killed builds
    not touched for STALE_DAYS, so the cache does not grow with every upgrade. Recent
    ones stay: another environment on this machine may still be using them."""
    cutoff = time.time() - STALE_DAYS * 86400
    for old in list(keep.parent.glob("fused-*")) + list(keep.parent.glob("*.so.tmp")):
        try:
            if old != keep and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass


def library():
    """The compiled kernels (a ctypes library), building them on first use; None if
    that is impossible here (the reason is in ``unavailable_reason()``)."""
    global _lib, _tried, _error
    if _tried:
        return _lib
    with _lock:
        if _tried:
            return _lib
        if os.environ.get("NTM_WIDGETS_FUSED", "1").strip().lower() in ("0", "false", "no", "off"):
            _error = "turned off by NTM_WIDGETS_FUSED"
        else:
            try:
                lib = ctypes.CDLL(str(_build()))
                for name, args in _SIGNATURES.items():
                    for suffix in ("_f32", "_f32b1", "_f64"):
                        fn = getattr(lib, name + suffix)
                        fn.argtypes = args
                        fn.restype = _I if name.startswith("ntm_") else None
                global _gemm
                try:  # without torch's BLAS the Python time loop runs; the kernels still do
                    with torch.autocast("cpu", enabled=False), torch.no_grad():
                        _gemm = _find_gemm()
                except Exception:
                    _gemm = None
                _lib = lib
            except Exception as exc:  # no compiler, a failed build, a library that will not load
                _error = str(exc)
                warnings.warn(
                    f"ntm-widgets: the fused CPU step is unavailable, using eager PyTorch (slower): {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        _tried = True
    return _lib


_gemm = None  # {dtype: address of torch's BLAS sgemm_ / dgemm_}, or None (see _find_gemm)
# False: drive the time loop from Python (as without a BLAS to call); tests compare both.
use_blas = os.environ.get("NTM_WIDGETS_FUSED_BLAS", "1").strip().lower() not in ("0", "false", "no", "off")


def _find_gemm():
    """The Fortran sgemm_ / dgemm_ of the BLAS that torch itself loaded (MKL in the
    Linux wheels), checked on a small product against torch; None if absent or wrong.
    With them each sequence is one C call (ntm_seq_fwd / _bwd), not four per step."""
    lib_dir = Path(torch.__file__).resolve().parent / "lib"
    for name in ("libtorch_cpu.so", "libtorch_cpu.dylib"):
        path = lib_dir / name
        if not path.exists():
            continue
        try:
            lib = ctypes.CDLL(str(path))
            found = {
                torch.float32: ctypes.cast(lib.sgemm_, ctypes.c_void_p).value,
                torch.float64: ctypes.cast(lib.dgemm_, ctypes.c_void_p).value,
            }
        except (OSError, AttributeError):
            return None
        for dtype, address in found.items():
            scalar = ctypes.c_float if dtype == torch.float32 else ctypes.c_double
            ip, sp = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(scalar)
            proto = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ip, ip, ip, sp, _P, ip, _P, ip, sp, _P, ip)
            # column-major: C (4 x 2) = A (4 x 3) B (3 x 2) + C, i.e. row-major C^T = B^T A^T
            a = torch.arange(12, dtype=dtype).reshape(3, 4) - 5  # A, column-major
            b = torch.arange(6, dtype=dtype).reshape(2, 3) / 3  # B, column-major
            c = torch.ones(2, 4, dtype=dtype)
            i = ctypes.c_int
            proto(address)(
                b"N",
                b"N",
                ctypes.byref(i(4)),
                ctypes.byref(i(2)),
                ctypes.byref(i(3)),
                ctypes.byref(scalar(1.0)),
                a.data_ptr(),
                ctypes.byref(i(4)),
                b.data_ptr(),
                ctypes.byref(i(3)),
                ctypes.byref(scalar(1.0)),
                c.data_ptr(),
                ctypes.byref(i(4)),
            )
            if not torch.allclose(c, b @ a + 1.0):
                return None
        return found
    return None


def available() -> bool:
    return library() is not None


def unavailable_reason() -> Optional[str]:
    library()
    return _error


class Dims(NamedTuple):
    N: int  # memory rows
    M: int  # row width
    R: int  # read heads
    W: int  # write heads
    K: int  # shift range: offsets -K..K
    C: int  # controller units
    lstm: bool  # LSTM controller (else one tanh layer)


class Weights(NamedTuple):
    """The parameters the fused step uses, as plain tensors (the model's own or views
    of them, so gradients reach the parameters). G = 4C gates (i, f, g, o, as
    nn.LSTMCell orders them) for an LSTM controller, C for a feed-forward one."""

    w_in: torch.Tensor  # (G, I): the controller's weights on the input
    b_in: torch.Tensor  # (G,)
    w_rec: torch.Tensor  # (G, R*M + C) on [reads, h] (LSTM); (C, R*M) on the reads (feed-forward)
    w_head: torch.Tensor  # (P, C): the head projection, rows as Head.fields lay them out head by head
    b_head: torch.Tensor  # (P,)
    w_out: torch.Tensor  # (O, C + R*M): the output layer on [h, reads]
    b_out: torch.Tensor  # (O,)


class _Rows(ctypes.Structure):
    """fused.c's ntm_rows_t: the first row of each kind of head parameter."""

    _fields_ = [(name, ctypes.c_int) for name in ("P", "key", "add", "beta", "gamma", "g", "erase", "s")]


class HeadRows(NamedTuple):
    """The head projection's rows in the order the kernels read them (``head_rows``)."""

    perm: torch.Tensor  # row j of the kernels' order is row perm[j] of the projection
    inverse: torch.Tensor  # and back: row i of the projection is row inverse[i] here
    c_rows: _Rows


# The kernels' row order: each kind of parameter for all heads together (read heads
# first), kinds that share an activation side by side, so each activation is one
# vectorised pass over contiguous rows.
ROW_ORDER = ("key", "add", "beta", "gamma", "g", "erase", "s")


@functools.lru_cache(maxsize=64)
def head_rows(heads: Tuple[Tuple[Tuple[str, int], ...], ...]) -> HeadRows:
    """The kernels' row order for heads laid out as ``heads`` (each head's
    ``Head.fields``, read heads first, as the projection's rows follow them).

    Each head's shift logits go from offset +k down to -k: eq. 8 is then a sliding
    window over the weighting (fused_body.h).
    """
    where: Dict[Tuple[str, int], range] = {}
    pos = 0
    for h, fields in enumerate(heads):
        for name, width in fields:
            where[name, h] = range(pos, pos + width)
            pos += width
    unknown = {name for name, _ in where} - set(ROW_ORDER)
    if unknown:
        raise ValueError(f"the fused step has no rows for head field(s) {sorted(unknown)}")
    perm, starts = [], {"P": pos}
    for name in ROW_ORDER:
        starts[name] = len(perm)
        for h in range(len(heads)):
            rows = where.get((name, h), range(0))
            perm.extend(reversed(rows) if name == "s" else rows)
    # Cached and shared by every later call: a tensor made under torch.inference_mode
    # (a first call from evaluation) could not be saved for a training step's backward.
    with torch.inference_mode(False):
        perm_t = torch.tensor(perm, dtype=torch.long)
        return HeadRows(perm_t, torch.argsort(perm_t), _Rows(**starts))


class _Kernels:
    """The library's functions for one dtype (and, in float32, a batch of one: a copy
    compiled with the batch size fixed, see fused.c)."""

    def __init__(self, lib, dtype, batch: int):
        sfx = {torch.float32: "_f32", torch.float64: "_f64"}[dtype]
        mem = "_f32b1" if sfx == "_f32" and batch == 1 else sfx
        self.mem_fwd = getattr(lib, "ntm_mem_fwd" + mem)
        self.mem_bwd = getattr(lib, "ntm_mem_bwd" + mem)
        self.lstm_fwd = getattr(lib, "lstm_fwd" + sfx)
        self.lstm_bwd = getattr(lib, "lstm_bwd" + sfx)
        self.seq_fwd = getattr(lib, "ntm_seq_fwd" + mem)
        self.seq_bwd = getattr(lib, "ntm_seq_bwd" + mem)
        self.gemm = _gemm[dtype] if (_gemm and use_blas) else None


def supports(inputs: torch.Tensor) -> bool:
    return (
        inputs.device.type == "cpu"
        and inputs.dtype in (torch.float32, torch.float64)
        and inputs.shape[0] > 0
        and inputs.shape[1] > 0
        and available()
    )


def _check(rc: int) -> None:
    if rc:
        raise MemoryError("the fused NTM step could not allocate its scratch memory")


def _run_forward(d: Dims, rows: _Rows, xg, w_rec, wp, bp, mem0, w0, reads0, h0, c0, keep_all: bool):
    """The forward loop, batch innermost (see fused_body.h).

    xg (T, G, B): the controller's input pre-activations; w_rec (G, R*M + C) (LSTM) or
    (C, R*M) (feed-forward); wp (P, C), bp (P, 1) in the kernels' row order (``rows``,
    see ``head_rows``); the initial state as mem0 (N, M, B),
    w0 (H, N, B), reads0 (R*M, B), h0 and c0 (C, B). Returns the buffers: X (T+1,
    R*M + C, B) with X[t] = [reads_t; h_t] (X[0] the initial state), memories, row norms
    and weightings (T+1 of each, or 2 used alternately when not keep_all), raw head
    parameters (T, P, B), activated gates (T, G, B), cells (T+1, C, B) and the index of
    the last memory."""
    T, G, B = xg.shape
    k = _Kernels(library(), xg.dtype, B)
    N, M, R, W, K, C = d.N, d.M, d.R, d.W, d.K, d.C
    RM, H = R * M, R + W
    P = wp.shape[0]
    isz = xg.element_size()
    X = xg.new_empty(T + 1, RM + C, B)
    X[0, :RM] = reads0
    X[0, RM:] = h0 if d.lstm else 0
    n_mem = T + 1 if keep_all else 2
    mem = xg.new_empty(n_mem, N, M, B)
    mem[0] = mem0
    norms = xg.new_empty(n_mem, N, B)
    # Row norms from mem0 as given: a (B, N, M) tensor seen as (N, M, B), so the sum
    # runs over its contiguous last axis (over the buffer's middle axis it is ~50x slower).
    norms[0] = torch.linalg.vector_norm(mem0.detach(), dim=1)
    w = xg.new_empty(n_mem, H, N, B)
    w[0] = w0
    raw = xg.new_empty(T, P, B)
    # The cosine similarities of every step, for the backward (no pass over memory).
    cos = xg.new_empty(T, H, N, B) if keep_all else None
    acts = xg.new_empty(T, G, B)
    cs = xg.new_empty(T + 1, C, B) if d.lstm else None
    if cs is not None:
        cs[0] = c0
    pX, pmem, pn, pw = X.data_ptr(), mem.data_ptr(), norms.data_ptr(), w.data_ptr()
    praw, pacts = raw.data_ptr(), acts.data_ptr()
    pc = cs.data_ptr() if cs is not None else None
    pcos = cos.data_ptr() if cos is not None else None
    last = T if keep_all else T % 2
    if k.gemm is not None:  # the whole loop in C
        w_rec, wp, bp, xg = (t.contiguous() for t in (w_rec, wp, bp, xg))
        _check(
            k.seq_fwd(
                k.gemm,
                T,
                B,
                N,
                M,
                R,
                W,
                K,
                C,
                int(d.lstm),
                int(keep_all),
                ctypes.addressof(rows),
                xg.data_ptr(),
                w_rec.data_ptr(),
                wp.data_ptr(),
                bp.data_ptr(),
                pX,
                pmem,
                pn,
                pw,
                praw,
                pacts,
                pc,
                pcos,
            )
        )
        return X, mem, norms, w, raw, acts, cs, cos, last
    # The loop in Python: per-step views and byte strides for the kernels.
    xs, Xs, raws, gates = xg.unbind(0), X.unbind(0), raw.unbind(0), acts.unbind(0)
    hv, rv = X[:, RM:].unbind(0), X[:, :RM].unbind(0)
    sX, smem, sn, sw = (RM + C) * B * isz, N * M * B * isz, N * B * isz, H * N * B * isz
    sraw, sacts, hoff, sc = P * B * isz, G * B * isz, RM * B * isz, C * B * isz
    for t in range(T):
        if d.lstm:
            torch.addmm(xs[t], w_rec, Xs[t], out=gates[t])
            k.lstm_fwd(C * B, pacts + t * sacts, pc + t * sc, pc + (t + 1) * sc, pX + (t + 1) * sX + hoff)
        else:
            torch.addmm(xs[t], w_rec, rv[t], out=gates[t])
            torch.tanh(gates[t], out=hv[t + 1])
        torch.addmm(bp, wp, hv[t + 1], out=raws[t])
        i, j = (t, t + 1) if keep_all else (t % 2, (t + 1) % 2)
        _check(
            k.mem_fwd(
                B,
                N,
                M,
                R,
                W,
                K,
                ctypes.addressof(rows),
                praw + t * sraw,
                pmem + i * smem,
                pn + i * sn,
                pw + i * sw,
                pmem + j * smem,
                pn + j * sn,
                pw + j * sw,
                pX + (t + 1) * sX,
                pcos and pcos + t * sw,
            )
        )
    return X, mem, norms, w, raw, acts, cs, cos, last


def _backward_loop(d: Dims, rows: _Rows, k: "_Kernels", X, gX, g_raw, g_gates, w_rec, wp, ptrs) -> None:
    """The backward time loop driven from Python (no BLAS found to call from C)."""
    pgX, pmem, pn, pw, praw, pcos, pgm, pgw, pgraw, pacts, pgg, pc, pgc = ptrs
    T, G, B = g_gates.shape
    N, M, R, W, K, C = d.N, d.M, d.R, d.W, d.K, d.C
    RM, H, P = R * M, R + W, g_raw.shape[1]
    isz = X.element_size()
    sX, smem, sn, sw = (RM + C) * B * isz, N * M * B * isz, N * B * isz, H * N * B * isz
    sraw, sacts, hoff, sc = P * B * isz, G * B * isz, RM * B * isz, C * B * isz
    wpT, w_recT = wp.t(), w_rec.t()
    gXs, g_raws, g_gts = gX.unbind(0), g_raw.unbind(0), g_gates.unbind(0)
    ghv, grv, hv = gX[:, RM:].unbind(0), gX[:, :RM].unbind(0), X[:, RM:].unbind(0)
    for t in range(T - 1, -1, -1):
        _check(
            k.mem_bwd(
                B,
                N,
                M,
                R,
                W,
                K,
                ctypes.addressof(rows),
                praw + t * sraw,
                pmem + t * smem,
                pn + t * sn,
                pw + t * sw,
                pmem + (t + 1) * smem,
                pn + (t + 1) * sn,
                pcos + t * sw,
                pgX + (t + 1) * sX,
                pgm,
                pgw,
                pgraw + t * sraw,
            )
        )
        ghv[t + 1].addmm_(wpT, g_raws[t])
        if d.lstm:
            k.lstm_bwd(C * B, pacts + t * sacts, pc + t * sc, pc + (t + 1) * sc, pgX + (t + 1) * sX + hoff, pgc, pgg + t * sacts)
            gXs[t].addmm_(w_recT, g_gts[t])
        else:
            h = hv[t + 1]
            torch.mul(ghv[t + 1], 1.0 - h * h, out=g_gts[t])
            grv[t].addmm_(w_recT, g_gts[t])


def _backward_chunk(d: Dims, rows: _Rows, bufs, w_rec, wp, gY, g_mem_last, g_w_last, g_c_last, need):
    """The backward of one chunk of the batch (all of it when not split): returns
    the gradients of _FusedSequence's inputs, weight gradients as this chunk's
    share. ``need``: which weight gradients to compute (w_rec, wp, bp)."""
    X, mem, norms, w, raw, acts, cs, cos = bufs
    T, G, B = acts.shape
    k = _Kernels(library(), X.dtype, B)
    N, M, R, W, K, C = d.N, d.M, d.R, d.W, d.K, d.C
    RM, H, P = R * M, R + W, raw.shape[1]
    gX = X.new_zeros(T + 1, RM + C, B)
    if gY is not None:
        gX[1:] = gY

    def start(g, *shape):
        return g.clone(memory_format=torch.contiguous_format) if g is not None else X.new_zeros(*shape)

    g_mem, g_w = start(g_mem_last, N, M, B), start(g_w_last, H, N, B)
    gc = start(g_c_last, C, B) if d.lstm else None
    g_raw = X.new_empty(T, P, B)
    g_gates = X.new_empty(T, G, B)
    pgX, pmem, pn, pw, praw, pcos = gX.data_ptr(), mem.data_ptr(), norms.data_ptr(), w.data_ptr(), raw.data_ptr(), cos.data_ptr()
    pgm, pgw, pgraw, pacts, pgg = g_mem.data_ptr(), g_w.data_ptr(), g_raw.data_ptr(), acts.data_ptr(), g_gates.data_ptr()
    pc, pgc = (cs.data_ptr(), gc.data_ptr()) if d.lstm else (None, None)
    if k.gemm is not None:  # the whole loop in C
        w_rec_c, wp_c = w_rec.contiguous(), wp.contiguous()
        _check(
            k.seq_bwd(
                k.gemm,
                T,
                B,
                N,
                M,
                R,
                W,
                K,
                C,
                int(d.lstm),
                ctypes.addressof(rows),
                w_rec_c.data_ptr(),
                wp_c.data_ptr(),
                X.data_ptr(),
                pmem,
                pn,
                pw,
                praw,
                pacts,
                pc,
                pcos,
                pgX,
                pgm,
                pgw,
                pgc,
                pgraw,
                pgg,
            )
        )
    else:
        _backward_loop(
            d, rows, k, X, gX, g_raw, g_gates, w_rec, wp, (pgX, pmem, pn, pw, praw, pcos, pgm, pgw, pgraw, pacts, pgg, pc, pgc)
        )
    # Weight gradients: one product each over all time steps and sequences.
    rec_in = X[:T] if d.lstm else X[:T, :RM]
    grad_w_rec = _sum_outer(g_gates, rec_in) if need[0] else None
    grad_wp = _sum_outer(g_raw, X[1:, RM:]) if need[1] else None
    grad_bp = g_raw.sum((0, 2)).unsqueeze(1) if need[2] else None
    grad_h0 = gX[0, RM:] if d.lstm else None
    return g_gates, grad_w_rec, grad_wp, grad_bp, g_mem, g_w, gX[0, :RM], grad_h0, gc


_pool = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: start a new pool there.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _map(fn, items):
    """fn over items, in parallel threads when there are several (the C calls and
    torch's kernels release the GIL)."""
    global _pool
    if len(items) == 1:
        return [fn(items[0])]
    with _pool_lock:
        if _pool is None or _pool._max_workers < len(items):
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="ntm-fused")
    return list(_pool.map(fn, items))


def chunks_for(batch: int, threads: int) -> int:
    """How many parts of the batch to run in parallel: at most ``threads``, and no
    part smaller than 16 sequences (a vector register's worth, see fused_body.h)."""
    return max(1, min(threads, batch // 16))


def _split(t, bounds):
    """Slices of a tensor whose last axis is the batch, made contiguous."""
    return [t[..., lo:hi].contiguous() if t.numel() else t for lo, hi in bounds]


class _FusedSequence(torch.autograd.Function):
    """The whole recurrent loop as one autograd node with a hand-written backward.

    With ``chunks`` > 1 the batch is cut into that many parts, whose sequences are
    independent, and each part runs forward and backward on its own thread."""

    @staticmethod
    def forward(ctx, xg, w_rec, wp, bp, mem0, w0, reads0, h0, c0, d: Dims, rows: _Rows, chunks: int = 1):
        B = xg.shape[2]
        bounds = [(B * i // chunks, B * (i + 1) // chunks) for i in range(chunks)]
        if chunks == 1:
            parts = [(xg, mem0, w0, reads0, h0, c0)]
        else:
            parts = list(zip(*(_split(t, bounds) for t in (xg, mem0, w0, reads0, h0, c0))))

        def run(part):
            px, pm, pw0, pr, ph, pc = part
            with torch.no_grad():  # grad mode is per thread; the workers' default is on
                return _run_forward(d, rows, px, w_rec, wp, bp, pm, pw0, pr, ph, pc, keep_all=True)

        results = _map(run, parts)
        ctx.d, ctx.rows, ctx.bounds = d, rows, bounds
        ctx.bufs = [r[:8] for r in results]
        ctx.save_for_backward(w_rec, wp)
        last = results[0][8]
        outs = [
            (X[1:], mem[last], w[last], cs[last] if cs is not None else X.new_zeros(0))
            for X, mem, _, w, _, _, cs, _, _ in results
        ]
        if chunks == 1:
            return outs[0]
        return tuple(torch.cat(o, dim=-1) if o[0].numel() else o[0] for o in zip(*outs))

    @staticmethod
    @torch.autograd.function.once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, gY, g_mem_last, g_w_last, g_c_last):
        d, rows, bounds = ctx.d, ctx.rows, ctx.bounds
        w_rec, wp = ctx.saved_tensors
        need = ctx.needs_input_grad[1:4]
        grads_in = []
        for i, (lo, hi) in enumerate(bounds):
            cut = (lambda g: g) if len(bounds) == 1 else (lambda g, lo=lo, hi=hi: None if g is None else g[..., lo:hi])
            grads_in.append((ctx.bufs[i], cut(gY), cut(g_mem_last), cut(g_w_last), cut(g_c_last) if d.lstm else None))

        def run(item):
            bufs, gy, gm, gw, gc = item
            with torch.no_grad():
                return _backward_chunk(d, rows, bufs, w_rec, wp, gy, gm, gw, gc, need)

        results = _map(run, grads_in)
        if len(results) == 1:
            return (*results[0], None, None, None)
        merged = []
        for j, parts in enumerate(zip(*results)):
            if parts[0] is None:
                merged.append(None)
            elif j in (1, 2, 3):  # weight gradients: sum of the parts' shares
                merged.append(torch.stack(parts).sum(0))
            else:  # per-sequence gradients: put the batch back together
                merged.append(torch.cat(parts, dim=-1))
        return (*merged, None, None, None)


def _sum_outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """sum_t a[t] @ b[t].T for a (T, I, B), b (T, J, B): (I, J)."""
    T, I, B = a.shape
    return a.transpose(0, 1).reshape(I, T * B).mm(b.transpose(0, 1).reshape(b.shape[1], T * B).t())


def forward(
    inputs: torch.Tensor,
    weights: Weights,
    state: Sequence,
    dims: Dims,
    rows: HeadRows,
    threads: int = 1,
    record: bool = False,
    gate_noise: Optional[torch.Tensor] = None,
):
    """A whole sequence on the fused step: inputs (B, T, I) -> logits (B, T, O), the final
    state and, with ``record``, every step's values.

    ``state``: memory (B, N, M), weightings (B, H, N) (read heads first), reads (B, R, M)
    and the controller's state ((h, c), each (B, C), for an LSTM; () otherwise). ``rows``:
    ``head_rows`` of the model's heads. ``threads``: parts of the batch trained on
    parallel threads (``chunks_for``). Returns logits, the final state as (memory,
    weightings, reads, controller) and, with ``record``, a dict of every step's
    ``memory`` (B, T, N, M), ``weights`` (B, T, H, N), ``reads`` (B, T, R, M) and ``raw``
    head parameters (B, T, P) in the projection's own row order; else None.
    ``gate_noise`` (T, G, B), if given, is added to the controller's pre-activations
    (``NTM.gate_noise``).
    """
    d = dims
    B, T = inputs.shape[0], inputs.shape[1]
    memory0, weights0, reads0, ctrl0 = state
    wp = weights.w_head.index_select(0, rows.perm)  # (P, C) in the kernels' row order
    bp = weights.b_head.index_select(0, rows.perm)  # (P,)
    # Batch innermost: the kernels vectorise over the batch (see fused_body.h).
    # The controller's input pre-activations for the whole sequence, (T, G, B): one
    # batched product straight into the kernels' layout (no transposing copy).
    xg = torch.matmul(weights.w_in, inputs.permute(1, 2, 0)).add_(weights.b_in.unsqueeze(1))
    if gate_noise is not None:
        xg = xg + gate_noise
    reads0 = reads0.reshape(B, -1).t()
    if d.lstm:
        h0, c0 = (s.t() for s in ctrl0)
    else:
        h0 = c0 = xg.new_zeros(0)
    tensors = (xg, weights.w_rec, wp, bp.unsqueeze(1), memory0.permute(1, 2, 0), weights0.permute(1, 2, 0), reads0, h0, c0)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        Y, mem_last, w_last, c_last = _FusedSequence.apply(*tensors, d, rows.c_rows, chunks_for(B, threads))
        mem_all = w_all = raw = None
    else:
        X, mem_all, _, w_all, raw, _, cs, _, last = _run_forward(d, rows.c_rows, *tensors, keep_all=record)
        Y, mem_last, w_last = X[1:], mem_all[last], w_all[last]
        c_last = cs[last] if cs is not None else None
    RM, C = d.R * d.M, d.C
    # Y (T, R*M + C, B) holds [reads; h] per step; the output layer takes [h, reads].
    w_out = weights.w_out
    logits = F.linear(Y.permute(2, 0, 1), torch.cat([w_out[:, C:], w_out[:, :C]], dim=1), weights.b_out)

    # The final state as tensors of its own (not views that would keep every step's
    # buffers alive for as long as someone holds the state).
    def own(t):
        return t.clone(memory_format=torch.contiguous_format)

    reads_last = own(Y[-1, :RM].t()).view(B, d.R, d.M)
    ctrl = (own(Y[-1, RM:].t()), own(c_last.t())) if d.lstm else ()
    final = (own(mem_last.permute(2, 0, 1)), own(w_last.permute(2, 0, 1)), reads_last, ctrl)
    if not record:
        return logits, final, None
    if mem_all is None:  # recorded with gradients: rerun the loop without them
        with torch.no_grad():
            X, mem_all, _, w_all, raw, _, _, _, _ = _run_forward(d, rows.c_rows, *(t.detach() for t in tensors), keep_all=True)
            Y = X[1:]
    steps = {
        "memory": mem_all[1:].permute(3, 0, 1, 2).contiguous(),
        "weights": w_all[1:].permute(3, 0, 1, 2).contiguous(),
        "reads": Y[:, :RM].permute(2, 0, 1).reshape(B, T, d.R, d.M).contiguous(),
        "raw": raw.index_select(1, rows.inverse).permute(2, 0, 1).contiguous(),
    }
    return logits, final, steps
