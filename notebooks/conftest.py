"""Run the tutorial notebooks under nbval, in their quick mode.

    python -m pytest notebooks --nbval-lax --nbval-current-env

Every code cell becomes a test that fails if the cell raises. The notebooks are
committed without outputs, so the outputs that ``# NBVAL_CHECK_OUTPUT`` cells must
reproduce live in tests/notebook_expected.json (keyed by notebook and cell id;
re-record with ``python tools/nbtool.py record notebooks/NAME.ipynb``). This file puts
them back into those cells before nbval compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
EXPECTED = HERE.parent / "tests" / "notebook_expected.json"

# Kernels inherit this environment: quick mode even when CI is not set.
os.environ.setdefault("NTM_QUICK", "1")
# A stray Agg backend would turn every plt.show() into a warning; use the kernel's own.
if os.environ.get("MPLBACKEND", "").lower() == "agg":
    del os.environ["MPLBACKEND"]


def pytest_collection_modifyitems(config, items):
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    for item in items:
        cell = getattr(item, "cell", None)
        path = Path(str(getattr(item, "fspath", "")))
        if cell is None or path.parent != HERE or "NBVAL_CHECK_OUTPUT" not in cell.source:
            continue
        # nbval skips the comparison for a cell that was never run (no execution
        # count), so mark it as run. A checked cell with nothing recorded keeps no
        # outputs, and nbval fails it ("Unexpected output fields"): record it with
        # tools/nbtool.py.
        cell.outputs = [nbformat.from_dict(o) for o in expected.get(path.name, {}).get(cell.id, [])]
        cell.execution_count = 1
