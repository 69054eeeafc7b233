"""A sweep's results table: its columns, the CSV / JSON files, the best row."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Sequence

from ..config import ConfigError
from ..files import atomic_write, writable_dir_problem

# What a finished trial reports (run_trial), in the order of the table's columns.
RESULT_FIELDS = ("converged", "seconds", "train_seconds", "sequences", "steps", "bits_per_seq", "nonfinite_steps", "reason")
# Columns every trial row has; a swept field whose short name clashes with one of these
# (train.steps vs the steps a run took) keeps its dotted name as its column.
RESULT_COLUMNS = ("trial_id", *RESULT_FIELDS, "error", "run_dir", "config")


def _results_format(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"results_path must end in .csv or .json, got {str(path)!r}")
    return suffix[1:]


def _clean_frame(df):
    """Dtypes that survive CSV/JSON: error and run_dir None when absent, converged a bool where known."""
    import pandas as pd

    for column in ("error", "run_dir"):  # text or None (an all-empty CSV column reads back as floats)
        if column in df.columns:
            df[column] = df[column].astype(object).where(df[column].notna(), None)
    if "converged" in df.columns and df["converged"].notna().all() and len(df):
        df["converged"] = df["converged"].astype(bool)
    return df if isinstance(df, pd.DataFrame) else pd.DataFrame(df)


def order_columns(df, axes: Sequence[str] = ()):
    """trial_id, the swept fields, then the results (gen_* before error, config last)."""
    cols = list(df.columns)
    lead = ["trial_id", *[c for c in axes if c in cols]]
    results = ["converged", "seconds", "train_seconds", "sequences", "steps", "bits_per_seq", "nonfinite_steps", "reason"]
    gen = [c for c in cols if c.startswith("gen_")]
    tail = ["error", "wall_seconds", "run_dir", "config"]
    known = set(lead) | set(results) | set(gen) | set(tail)
    other_axes = [c for c in cols if c not in known]  # axes of other sweeps sharing the file
    order = [c for c in [*lead, *other_axes, *results, *gen, *tail] if c in cols]
    return df[order]


JSON_FORMAT = "ntm-widgets-sweep"
# Columns that mark a CSV as a results table: every row save_results writes has them.
REQUIRED_COLUMNS = ("trial_id", "config")


def save_results(df, path) -> Path:
    """Write a results table as CSV or JSON (by suffix), atomically.

    The temporary file has a unique name beside ``path`` (``files.atomic_write``), so
    two sweeps saving the same file never write into each other's temporary file;
    the last rename wins, and a reader sees one whole table or the other.
    """
    path = Path(path)
    fmt = _results_format(path)
    if fmt == "csv":
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))
    else:
        # Python's float repr round-trips exactly (pandas' to_json keeps 15 digits).
        records = [{str(k): _json_value(v) for k, v in r.items()} for r in df.to_dict("records")]
        atomic_write(path, json.dumps({"format": JSON_FORMAT, "version": 1, "trials": records}, indent=1) + "\n")
    return path


def _not_results(path: Path, why: str) -> ConfigError:
    return ConfigError(
        "results_path", f"{path} {why}; it was left as it is: choose another results file, or delete this one to start afresh"
    )


def load_results(path):
    """Read a table written by ``save_results`` (CSV or JSON) back into a DataFrame.

    Anything else (another program's CSV or JSON, a truncated or unreadable file)
    raises ``ConfigError`` naming the file, which is never modified: a sweep pointed
    at the wrong file must not merge its rows into it. An empty (0-byte) file counts
    as a table with no trials yet: it holds nothing to lose, and is what ``touch``
    or a reserved temporary name leaves (save_results itself never writes one).
    """
    import pandas as pd

    path = Path(path)
    fmt = _results_format(path)
    try:
        if path.is_file() and path.stat().st_size == 0:
            return pd.DataFrame()
        if fmt == "csv":
            df = pd.read_csv(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        # ValueError covers json.JSONDecodeError; OSError an unreadable file or a folder.
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror
        else:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _not_results(path, f"cannot be read as a results table ({reason})") from None
    if fmt == "csv":
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise _not_results(
                path,
                f"is not a results table written by ntm-widgets sweep (no {' and '.join(missing)} column{'s' if len(missing) > 1 else ''})",
            )
    else:
        if not (
            isinstance(data, dict)
            and data.get("format") == JSON_FORMAT
            and isinstance(data.get("trials"), list)
            and all(isinstance(r, dict) and "trial_id" in r for r in data["trials"])
        ):
            raise _not_results(
                path,
                f'is not a results file written by ntm-widgets sweep (expected a {{"format": "{JSON_FORMAT}", "trials": [...]}} object)',
            )
        df = pd.DataFrame.from_records(data["trials"])
    return _clean_frame(df)


def output_problem(path) -> Optional[str]:
    """Why ``path`` cannot be written as an output file, or None (its folder is tried)."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder"
    return writable_dir_problem(path.parent)


def best_row(rows: Sequence[Mapping]) -> Optional[Dict]:
    """The best finished trial: converged first, then lowest bits per sequence, then fastest."""
    ok = [r for r in rows if not isinstance(r.get("error"), str) and _finite(r.get("bits_per_seq"))]
    if not ok:
        return None
    return dict(min(ok, key=lambda r: (not bool(r.get("converged")), float(r["bits_per_seq"]), float(r.get("seconds") or 0.0))))


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _describe_best(row: Mapping, columns: Iterable[str]) -> str:
    where = " ".join(f"{c}={row.get(c)}" for c in columns)
    return f"best {row['bits_per_seq']:.3g} bits/seq {row.get('seconds', 0):.1f}s {where}".strip()


def _json_value(value):
    """A JSON-ready scalar: numpy scalars unwrapped, NaN / inf / missing as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is not None and not isinstance(value, (str, bool, int, float)):
        try:
            import pandas as pd

            if pd.isna(value):
                return None
        except (TypeError, ValueError):
            pass
    return value
