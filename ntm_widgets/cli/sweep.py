"""``ntm-widgets sweep``: its flags, the Sweep they describe, running it and its summary."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..config import ConfigError, RunConfig
from ..sweep import BACKENDS, SCHEDULERS, Sweep
from ..sweep.cluster import ClusterError, import_ray
from ..sweep.fields import known_fields, parse_value, resolve_field
from ..sweep.results import _describe_best, _json_value, best_row, output_problem


def add_sweep_arguments(parser) -> None:
    """Options of ``ntm-widgets sweep`` (the CLI calls ``run_sweep_command(args)``)."""
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2",
        help="an axis of the grid, e.g. memory_size=16,32 or model.word_size=8,20 (repeat for more axes)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="set_",
        metavar="FIELD=VALUE",
        help="a fixed config value for every trial, e.g. controller_size=50",
    )
    parser.add_argument(
        "--task", default=None, help="the task (copy, repeat_copy, associative_recall, priority_sort); default copy"
    )
    parser.add_argument(
        "--seeds", type=int, default=None, metavar="K", help="add a seed axis of K seeds: S..S+K-1, S the base seed (default 0)"
    )
    parser.add_argument("--steps", type=int, default=None, help="training steps per trial")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", help="time limit per trial")
    parser.add_argument("--target-bits", type=float, default=None, metavar="X", help="stop a trial once validation bits/seq < X")
    parser.add_argument(
        "--eval-lengths", default="", metavar="L1,L2", help="generalisation lengths evaluated after training, e.g. 20,40"
    )
    parser.add_argument("--samples", type=int, default=100, help="sequences per evaluation length (default 100)")
    parser.add_argument("--random", type=int, default=None, metavar="N", help="random search: N distinct points of the grid")
    parser.add_argument("--random-seed", type=int, default=0, help="seed of the random search")
    parser.add_argument("--backend", default="local", help="local (process pool), ray, or serial (default local)")
    parser.add_argument("--workers", type=int, default=None, help="parallel trials (default: one per core)")
    parser.add_argument(
        "--ray-address",
        default=None,
        help="a Ray cluster's client address, ray://HOST:10001 (default: start a local Ray); checked within seconds",
    )
    parser.add_argument(
        "--ray-token-file",
        default=None,
        metavar="FILE",
        help="the cluster's authentication token (what `ray get-auth-token` prints on the head), when Ray would not find "
        "it in $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token",
    )
    parser.add_argument(
        "--storage",
        default=None,
        metavar="PATH_OR_URI",
        help="--backend ray: where Ray Tune keeps every trial's checkpoints (a folder, a shared mount, s3://..., gs://...); "
        "default RUNS_DIR/tune",
    )
    parser.add_argument(
        "--scheduler",
        default="none",
        help="--backend ray: none (every trial runs its budget) or asha (stop poor trials early, judged on validation bits)",
    )
    parser.add_argument(
        "--grace-steps",
        type=int,
        default=None,
        metavar="N",
        help="--scheduler asha: steps before a trial can be stopped (default 1000: a copy model needs ~1000 to find its pointer)",
    )
    parser.add_argument(
        "--runs-dir",
        default=None,
        metavar="DIR",
        help="every trial's run folder goes to DIR/TRIAL_ID (default: RESULTS_runs beside --out); the table's run_dir column",
    )
    parser.add_argument(
        "--out", default=None, metavar="RESULTS", help="results file (.csv or .json); re-running skips trials already in it"
    )
    parser.add_argument("--plot", default=None, metavar="PNG", help="save heatmaps of the first two grid axes to this PNG")
    if "--json" not in getattr(parser, "_option_string_actions", {}):
        parser.add_argument("--json", action="store_true", help="no progress bar; print one JSON object")


def _split_assignment(text: str, flag: str) -> Tuple[str, str]:
    if "=" not in text:
        raise ConfigError(flag.lstrip("-"), f"{flag} expects FIELD=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value


def _flag_error(flag: str, exc: Exception) -> ConfigError:
    field = getattr(exc, "field", flag.lstrip("-"))
    return ConfigError(field, f"{flag}: {exc}")


def sweep_from_args(args) -> Sweep:
    """The Sweep the parsed arguments describe; errors name the flag."""
    base: Dict[str, Dict] = {"model": {}, "task": {}, "train": {}}
    if args.task is not None:
        base["task"]["name"] = args.task
    for text in args.set_:
        name, value = _split_assignment(text, "--set")
        try:
            dotted = resolve_field(name)
            section, field = dotted.split(".", 1)
            base[section][field] = parse_value(dotted, value, "--set")
        except ConfigError as exc:
            raise _flag_error("--set", exc) from None
    grid: Dict[str, List] = {}
    for text in args.grid:
        name, values = _split_assignment(text, "--grid")
        try:
            dotted = resolve_field(name)
        except ConfigError as exc:
            raise _flag_error("--grid", exc) from None
        if dotted in grid:
            raise ConfigError(name, f"--grid: {name} given twice")
        parts = [v for v in values.split(",")]
        if not values.strip() or any(not p.strip() for p in parts):
            raise ConfigError(name, f"--grid {name}: give a comma-separated list of values, got {values!r}")
        grid[dotted] = [parse_value(dotted, p, "--grid") for p in parts]
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError("seeds", f"--seeds must be an integer >= 1, got {args.seeds}")
        if "train.seed" in grid:
            raise ConfigError("seeds", "--seeds and --grid seed=... both set the seeds; use one")
        first = int(base["train"].get("seed", 0))
        grid["train.seed"] = list(range(first, first + args.seeds))
    if not grid:
        raise ConfigError("grid", "--grid: give at least one axis, e.g. --grid memory_size=16,32")
    try:
        lengths = [int(v) for v in args.eval_lengths.split(",") if v.strip()] if args.eval_lengths else []
    except ValueError:
        raise ConfigError(
            "eval_lengths", f"--eval-lengths must be comma-separated integers >= 1, got {args.eval_lengths!r}"
        ) from None
    if args.backend not in BACKENDS:
        raise ConfigError("backend", f"--backend must be one of {', '.join(BACKENDS)}, got {args.backend!r}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError("workers", f"--workers must be an integer >= 1, got {args.workers}")
    if args.scheduler not in SCHEDULERS:
        raise ConfigError("scheduler", f"--scheduler must be one of {', '.join(SCHEDULERS)}, got {args.scheduler!r}")
    if args.scheduler != "none" and args.backend != "ray":
        raise ConfigError("scheduler", f"--scheduler {args.scheduler} needs --backend ray (Ray Tune stops the trials)")
    if args.grace_steps is not None and args.grace_steps < 1:
        raise ConfigError("grace_steps", f"--grace-steps must be an integer >= 1, got {args.grace_steps}")
    if args.ray_address is not None and args.backend != "ray":
        raise ConfigError("ray_address", f"--ray-address needs --backend ray, got --backend {args.backend}")
    if args.out is not None and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise ConfigError("out", f"--out must end in .csv or .json, got {args.out!r}")
    if args.plot is not None and len(grid) < 2:
        raise ConfigError("plot", "--plot needs at least two grid axes (x and y)")
    flags = {
        "steps": "--steps",
        "time_limit": "--time-limit",
        "target_bits": "--target-bits",
        "samples": "--samples",
        "n_samples": "--random",
        "eval_lengths": "--eval-lengths",
    }
    try:
        base_cfg = RunConfig.from_dict(base)
        return Sweep(
            grid,
            base_cfg,
            steps=args.steps,
            time_limit=args.time_limit,
            target_bits=args.target_bits,
            eval_lengths=lengths,
            samples=args.samples,
            n_samples=args.random,
            random_seed=args.random_seed,
        )
    except ConfigError as exc:
        flag = "--grid" if str(exc).startswith("grid") else flags.get(exc.field)
        if flag is None:
            dotted = known_fields().get(exc.field, exc.field)
            flag = "--grid" if dotted in grid else "--set"
        raise ConfigError(exc.field, f"{flag}: {exc}") from None


class SweepTerminated(BaseException):
    """SIGTERM arrived during ``ntm-widgets sweep``.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` (a trial's
    error handling) swallows it, while every backend's cleanup stops its workers.
    """


def _raise_terminated(signum, frame) -> None:
    # A second SIGTERM during the cleanup ends the process at once; the workers then
    # notice that the sweep is gone by themselves.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SweepTerminated()


# Library names of the things a sweep checks before training -> the flags that set them.
_CLI_NAMES = {
    "results_path": "--out",
    "eval_lengths": "--eval-lengths",
    "runs_dir": "--runs-dir",
    "scheduler": "--scheduler",
    "grace_steps": "--grace-steps",
}


def _check_plot_path(path) -> None:
    """--plot must be writable and in a format matplotlib knows, before any trial."""
    problem = output_problem(path)
    if problem is not None:
        raise ConfigError("plot", f"--plot {path} cannot be written: {problem}")
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix:
        from matplotlib.backend_bases import FigureCanvasBase

        formats = FigureCanvasBase.get_supported_filetypes()
        if suffix not in formats:
            raise ConfigError("plot", f"--plot {path}: unknown image format {suffix!r}; use one of {', '.join(sorted(formats))}")


def run_sweep_command(args) -> Dict:
    """``ntm-widgets sweep``: run, save, optionally plot; returns the JSON summary dict.

    Every output and the evaluation's memory are checked before the first trial.
    SIGTERM stops the sweep like Ctrl-C (workers stopped, finished trials kept) and
    exits with status 143.
    """
    sweep = sweep_from_args(args)
    if args.backend == "ray":
        try:
            import_ray()
        except ImportError as exc:  # a one-line message and exit code 2, not a traceback
            raise ConfigError("backend", f"--backend ray: {exc}") from None
    if args.plot is not None:
        _check_plot_path(args.plot)
    quiet = bool(getattr(args, "json", False))
    start = time.perf_counter()
    # Signal handlers can only be set from the main thread; elsewhere (a notebook's
    # worker thread) SIGTERM keeps its usual effect.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main else None
    if in_main:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        df = sweep.run(
            backend=args.backend,
            workers=args.workers,
            ray_address=args.ray_address,
            results_path=args.out,
            progress=not quiet,
            runs_dir=args.runs_dir,
            storage=args.storage,
            scheduler=args.scheduler,
            grace_steps=args.grace_steps,
            ray_token_file=args.ray_token_file,
        )
    except ClusterError as exc:
        # Which it was (connect / authenticate) and what to do: exit 2, no traceback.
        flag = "--ray-token-file" if exc.kind == "auth" and args.ray_token_file else "--ray-address"
        raise ConfigError("ray_address", f"{flag}: {exc}") from None
    except ConfigError as exc:
        # The checks before training use the library's names; say the flags instead.
        text = str(exc)
        first = text.split(" ", 1)[0]
        if first in _CLI_NAMES:
            raise ConfigError(exc.field, _CLI_NAMES[first] + text[len(first) :]) from None
        raise
    except SweepTerminated:
        saved = f"; finished trials are saved in {args.out}" if args.out else ""
        print(f"ntm-widgets sweep: terminated (SIGTERM){saved}", file=sys.stderr)
        raise SystemExit(143) from None
    finally:
        if in_main:
            # None: a handler set outside Python, which cannot be put back; use the default.
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    wall = time.perf_counter() - start
    columns = list(sweep.columns.values())
    summary: Dict[str, Any] = {
        "trials": len(sweep),
        "ran": sweep.ran,
        "skipped": len(sweep) - sweep.ran,
        "errors": int(df["error"].notna().sum()) if "error" in df.columns else 0,
        "converged": int(df["converged"].fillna(False).astype(bool).sum()) if "converged" in df.columns else 0,
        "seconds": wall,
        "backend": args.backend,
        "axes": columns,
        "out": str(args.out) if args.out else None,
        "scheduler": args.scheduler,
    }
    best = best_row(df.to_dict("records"))
    summary["best"] = (
        None
        if best is None
        else {k: _json_value(best.get(k)) for k in ["trial_id", *columns, "converged", "seconds", "bits_per_seq", "run_dir"]}
    )
    keep = [
        "trial_id",
        *columns,
        "converged",
        "seconds",
        "sequences",
        "steps",
        "bits_per_seq",
        *[c for c in df.columns if c.startswith("gen_")],
        "reason",
        "error",
        "run_dir",
    ]
    summary["results"] = [{k: _json_value(r.get(k)) for k in keep if k in r} for r in df.to_dict("records")]
    if args.plot is not None:
        from ..plotting.sweep import save_heatmaps

        x, y = columns[0], columns[1]
        save_heatmaps(df, args.plot, x=x, y=y)
        summary["plot"] = str(args.plot)
    if not quiet:
        best_text = "no finished trial" if best is None else _describe_best(best, columns)
        print(
            f"{summary['trials']} trials ({summary['ran']} run, {summary['skipped']} already done, {summary['errors']} failed) in {wall:.1f}s; {best_text}",
            file=sys.stderr,
        )
    return summary
