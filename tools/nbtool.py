"""Keep the tutorial notebooks clean and their checked outputs recorded.

    python tools/nbtool.py strip  notebooks/*.ipynb   # clear outputs and execution counts
    python tools/nbtool.py check  notebooks/*.ipynb   # exit 1 if any notebook holds outputs
    python tools/nbtool.py record notebooks/*.ipynb   # run in quick mode (CI=1) and store
                                                      # the NBVAL_CHECK_OUTPUT cells' outputs
                                                      # in tests/notebook_expected.json

Why a separate file for expected outputs: the notebooks are committed without outputs,
but nbval compares a ``# NBVAL_CHECK_OUTPUT`` cell against the output saved in the
notebook. tests/test_notebooks.py copies each notebook to a temporary folder, puts the
recorded outputs back into those cells only, and runs nbval on the copy.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tests" / "notebook_expected.json"
CHECK = "NBVAL_CHECK_OUTPUT"


def strip(nb) -> bool:
    """Clear outputs, execution counts and saved widget state; True if anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            changed = True
        cell.outputs = []
        cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    return changed


def has_outputs(nb) -> bool:
    return (
        any(c.cell_type == "code" and (c.outputs or c.execution_count is not None) for c in nb.cells) or "widgets" in nb.metadata
    )


def clean_output(out) -> dict:
    """What nbval compares: drop execution counts and metadata that vary run to run."""
    out = dict(out)
    out.pop("execution_count", None)
    if "metadata" in out:
        out["metadata"] = {}
    return out


def record(paths) -> None:
    from nbclient import NotebookClient

    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    env_ci = os.environ.get("CI")
    os.environ["CI"] = "1"
    try:
        for path in paths:
            path = Path(path)
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
            cells = {}
            for cell in nb.cells:
                if cell.cell_type == "code" and CHECK in cell.source:
                    cells[cell.id] = [clean_output(o) for o in cell.outputs]
            expected[path.name] = cells
            print(f"{path.name}: recorded {len(cells)} checked cells")
    finally:
        if env_ci is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = env_ci
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def main(argv) -> int:
    if len(argv) < 2 or argv[0] not in ("strip", "check", "record"):
        print(__doc__)
        return 2
    command, paths = argv[0], argv[1:]
    if command == "record":
        record(paths)
        return 0
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if command == "strip":
            if strip(nb):
                nbformat.write(nb, path)
                print(f"stripped {path}")
        elif has_outputs(nb):
            dirty.append(path)
    if dirty:
        print("notebooks with outputs (run: python tools/nbtool.py strip notebooks/*.ipynb):", *dirty, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
