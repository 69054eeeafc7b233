"""The tutorial notebooks as files: clean, complete and testable (no kernel needed).

Running them is nbval's job: ``python -m pytest notebooks --nbval-lax
--nbval-current-env`` (see notebooks/conftest.py). These checks catch what nbval
cannot: an .ipynb that drifted from its source script notebooks/NAME.py (see
tools/nbtool.py sync), outputs committed by mistake (then nbval would compare against
stale ones), a checked cell whose expected output was never recorded, a notebook
without a quick mode, or one that reads a file it did not make.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = json.loads((ROOT / "tests" / "notebook_expected.json").read_text())
NAMES = ["01_quickstart", "02_memory", "03_addressing", "04_copy_task", "05_more_tasks", "06_hyperparameters", "07_paper_tasks"]


def load(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_the_tutorials_exist_in_order():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_clean(name):
    nb = load(name)
    nbformat.validate(nb)
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{name}: cells with outputs {dirty}; run python tools/nbtool.py strip notebooks/*.ipynb"
    assert "widgets" not in nb.metadata, f"{name}: saved widget state; strip it"
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), f"{name}: duplicate cell ids"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_quick_mode_seeds_and_citations(name):
    nb = load(name)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert re.search(r'QUICK = "CI" in os\.environ', code), f"{name}: no quick mode switch"
    assert "1410.5401" in prose, f"{name}: does not cite Graves et al. 2014"
    assert "Run time" in prose or "run time" in prose, f"{name}: does not say how long it takes"
    if name != "01_quickstart":  # the quickstart's Playground carries its own seed
        assert "SEED" in code, f"{name}: no explicit seed"


@pytest.mark.parametrize("name", NAMES)
def test_checked_cells_have_recorded_outputs(name):
    nb = load(name)
    checked = [c.id for c in nb.cells if c.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in c.source]
    recorded = EXPECTED.get(f"{name}.ipynb", {})
    missing = [cid for cid in checked if not recorded.get(cid)]
    assert not missing, f"{name}: checked cells without expected output {missing}; run python tools/nbtool.py record"
    stale = sorted(set(recorded) - set(checked))
    assert not stale, f"{name}: recorded outputs for cells that are no longer checked {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_reads_no_outside_files(name):
    code = "\n".join(c.source for c in load(name).cells if c.cell_type == "code")
    for pattern in (r"\bopen\(", r"read_csv\(", r"np\.load\(", r"torch\.load\(", r"from_npz\(", r"load_run\(", r"from_run\("):
        assert not re.search(pattern, code), f"{name}: reads a file ({pattern}); notebooks must make what they use"


def nbtool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("nbtool", ROOT / "tools" / "nbtool.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_has_its_script():
    assert sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_notebook_matches_its_script(name):
    """notebooks/NAME.py (jupytext percent script) is the source; NAME.ipynb is written
    from it by tools/nbtool.py sync. A difference means one was edited without syncing."""
    tool = nbtool()
    script, notebook = NOTEBOOKS / f"{name}.py", NOTEBOOKS / f"{name}.ipynb"
    problems = tool.pair_differences(script, notebook)
    assert not problems, (
        f"{name}.ipynb and {name}.py differ ({'; '.join(problems[:5])}): run python tools/nbtool.py sync "
        f"(or, if the edit is in the .ipynb, python tools/nbtool.py sync --from-ipynb notebooks/{name}.ipynb)"
    )
    # Cell types, sources and ids match; so must what sync writes around them (metadata).
    want = tool.notebook_from_script(tool.read_script(script))
    have = load(name)
    assert [c.metadata for c in have.cells] == [c.metadata for c in want.cells], f"{name}: cell metadata differs; sync"
    assert have.metadata.get("jupytext", {}).get("formats") == tool.FORMATS, f"{name}.ipynb is not paired with its .py"


@pytest.mark.parametrize("name", NAMES)
def test_markdown_cells_render_as_markdown(name):
    # A line indented by four spaces that starts a paragraph (the cell's first line, or
    # one after a blank line) renders as a code block, e.g. dedented text gone wrong.
    def code_block(source):
        lines = source.split("\n")
        return any(line.startswith("    ") and (i == 0 or not lines[i - 1].strip()) for i, line in enumerate(lines))

    bad = [c.id for c in load(name).cells if c.cell_type == "markdown" and code_block(c.source)]
    assert not bad, f"{name}: markdown cells that would render as code: {bad}"
