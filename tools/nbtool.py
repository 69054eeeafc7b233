"""Keep the tutorial notebooks clean, paired with their text form, and their checked
outputs recorded.

    python tools/nbtool.py sync                       # write notebooks/*.ipynb from notebooks/*.py
    python tools/nbtool.py sync --from-ipynb notebooks/X.ipynb  # carry an .ipynb edit into X.py, then sync
    python tools/nbtool.py diff                       # exit 1 if a .py and its .ipynb differ
    python tools/nbtool.py strip  notebooks/*.ipynb   # clear outputs and execution counts
    python tools/nbtool.py check  notebooks/*.ipynb   # exit 1 if any notebook holds outputs
    python tools/nbtool.py record notebooks/*.ipynb   # run in quick mode (CI=1) and store
                                                      # the NBVAL_CHECK_OUTPUT cells' outputs
                                                      # in tests/notebook_expected.json

The source of truth of each notebook is a jupytext "percent" script beside it,
``notebooks/NN_name.py`` (``# %%`` code cells, ``# %% [markdown]`` cells), linted and
formatted by ruff like the rest of the code. The .ipynb stays committed, without
outputs, because nbval and the browser tests open it; ``sync`` rewrites it from the .py
(sync and diff without paths: every notebook in notebooks/ that has a .py). The two are
declared a jupytext pair (``formats: ipynb,py:percent``), so JupyterLab with jupytext
installed saves both when you edit the .ipynb there; run ``sync`` afterwards all the
same (it drops the outputs). ``sync`` refuses to overwrite an .ipynb that differs from
its .py and was saved after it (an edit made without jupytext); carry it back with
``--from-ipynb``, or pass ``--force`` to drop it.

Cell ids: tests/notebook_expected.json is keyed by cell id, so ids must survive
regeneration. jupytext does not keep ids in text notebooks (it invents new ones when it
reads a script), so each cell of the .py carries its id as cell metadata,
``# %% id="04-05"``; ``sync`` turns that into the .ipynb cell's id (and drops it from
the cell's metadata). A cell without one (new, written in the .py by hand) gets the
next free ``NN-kk`` id, written back into the .py. Two cells with the same id are an
error (a cell copied in JupyterLab copies its metadata too).

Why a separate file for expected outputs: the notebooks are committed without outputs,
but nbval compares a ``# NBVAL_CHECK_OUTPUT`` cell against the output saved in the
notebook. notebooks/conftest.py puts the recorded outputs back into those cells only
(in memory, as nbval collects them) before nbval compares.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = ROOT / "tests" / "notebook_expected.json"
CHECK = "NBVAL_CHECK_OUTPUT"
FORMATS = "ipynb,py:percent"
TEXT_FMT = "py:percent"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


# --------------------------------------------------------------------------- pairs


def pair_paths(path) -> tuple[Path, Path]:
    """(script, notebook) for a notebook given as NAME (in notebooks/), X.py or X.ipynb."""
    path = Path(path)
    if path.suffix not in (".py", ".ipynb"):
        path = (NOTEBOOKS / path.name if len(path.parts) == 1 else path).with_suffix(".py")
    path = path.resolve()
    return path.with_suffix(".py"), path.with_suffix(".ipynb")


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def paired_scripts() -> list[Path]:
    """The notebooks' scripts, notebooks/NN_name.py (not conftest.py)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def read_script(script: Path):
    """The notebook a .py holds, ids as written in its cells' metadata (None where missing)."""
    import jupytext

    return jupytext.read(script, fmt=TEXT_FMT)


def script_cell_ids(nb) -> list:
    return [c.metadata.get("id") for c in nb.cells]


def assign_missing_ids(nb, prefix: str) -> list[str]:
    """Give cells without an id the next free ``<prefix>-kk``; return the ids given."""
    ids = [i for i in script_cell_ids(nb) if i]
    numbers = [int(m.group(1)) for i in ids if (m := re.fullmatch(rf"{re.escape(prefix)}-(\d+)", str(i)))]
    nxt = max(numbers, default=-1) + 1
    given = []
    for cell in nb.cells:
        if not cell.metadata.get("id"):
            cell.metadata["id"] = f"{prefix}-{nxt:02d}"
            given.append(cell.metadata["id"])
            nxt += 1
    return given


def notebook_from_script(nb):
    """The .ipynb for a notebook read from its .py: ids from cell metadata, no outputs."""
    ids = script_cell_ids(nb)
    missing = [i for i, cid in enumerate(ids) if not cid]
    if missing:
        raise ValueError(f"cells without an id (cell numbers {missing}); run python tools/nbtool.py sync")
    dups = sorted({cid for cid in ids if ids.count(cid) > 1})
    if dups:
        raise ValueError(f"duplicate cell ids {dups}: give one of each a new id= (or delete it and sync assigns one)")
    out = nbformat.v4.new_notebook(
        metadata={"jupytext": {"formats": FORMATS}, "kernelspec": dict(nb.metadata.get("kernelspec", KERNELSPEC))}
    )
    out.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        meta = {k: v for k, v in cell.metadata.items() if k != "id"}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
        new.id = str(cell.metadata["id"])
        out.cells.append(new)
    nbformat.validate(out)
    return out


def script_from_notebook(nb) -> str:
    """The .py text for an .ipynb: its cells' ids go into their metadata; outputs are dropped."""
    import jupytext

    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a copy
    for cell in nb.cells:
        cell.metadata = {"id": cell.id, **{k: v for k, v in cell.metadata.items() if k != "id"}}
    nb.metadata.setdefault("jupytext", {})["formats"] = FORMATS
    nb.metadata["jupytext"].pop("text_representation", None)
    nb.metadata.pop("language_info", None)
    nb.metadata.pop("widgets", None)
    return jupytext.writes(nb, fmt=TEXT_FMT)


def cell_summary(nb, ids=None) -> list[tuple]:
    """What a pair must agree on: per cell, its type, source and id."""
    ids = ids if ids is not None else [c.id for c in nb.cells]
    return [(c.cell_type, c.source, cid) for c, cid in zip(nb.cells, ids)]


def pair_differences(script: Path, notebook: Path) -> list[str]:
    """How an .ipynb differs from what its .py would write (empty when in sync)."""
    if not script.exists():
        return [f"{script.name} missing"]
    if not notebook.exists():
        return [f"{notebook.name} missing"]
    text_nb = read_script(script)
    want = cell_summary(text_nb, script_cell_ids(text_nb))
    have = cell_summary(nbformat.read(notebook, as_version=4))
    problems = []
    if len(want) != len(have):
        problems.append(f"{script.name} has {len(want)} cells, {notebook.name} {len(have)}")
    for i, (w, h) in enumerate(zip(want, have)):
        for field, a, b in zip(("type", "source", "id"), w, h):
            if a != b:
                problems.append(f"cell {i} ({w[2] or h[2]}): {field} differs")
    return problems


def sync(paths, from_ipynb=False, force=False) -> int:
    scripts = [pair_paths(p)[0] for p in paths] if paths else paired_scripts()
    status = 0
    for script in scripts:
        script, notebook = pair_paths(script)
        prefix = script.name[:2]
        if from_ipynb:
            nb = nbformat.read(notebook, as_version=4)
            script.write_text(script_from_notebook(nb))
            print(f"wrote {rel(script)} from {notebook.name}")
        if not script.exists():
            print(f"{rel(script)} missing (to make it from the .ipynb: sync --from-ipynb {notebook.name})")
            status = 1
            continue
        text_nb = read_script(script)
        given = assign_missing_ids(text_nb, prefix)
        if given:
            import jupytext

            script.write_text(jupytext.writes(text_nb, fmt=TEXT_FMT))
            print(f"{rel(script)}: new cell ids {given}")
        try:
            out = notebook_from_script(text_nb)
        except ValueError as err:
            print(f"{rel(script)}: {err}")
            status = 1
            continue
        if notebook.exists() and not (force or from_ipynb):
            old = nbformat.read(notebook, as_version=4)
            if cell_summary(old) != cell_summary(out) and notebook.stat().st_mtime > script.stat().st_mtime:
                print(
                    f"{rel(notebook)} was saved after {script.name} and differs from it: "
                    f"keep its edit with  python tools/nbtool.py sync --from-ipynb {rel(notebook)}"
                    f"  or drop it with --force"
                )
                status = 1
                continue
        text = nbformat.writes(out)
        text += "" if text.endswith("\n") else "\n"
        if not notebook.exists() or notebook.read_text() != text:
            notebook.write_text(text)
            print(f"wrote {rel(notebook)} from {script.name}")
    return status


def diff(paths) -> int:
    scripts = [pair_paths(p)[0] for p in paths] if paths else paired_scripts()
    status = 0
    for script in scripts:
        script, notebook = pair_paths(script)
        problems = pair_differences(script, notebook)
        if problems:
            status = 1
            print(f"{rel(notebook)} differs from {script.name}:", *problems[:10], sep="\n  ")
    if status:
        print("run: python tools/nbtool.py sync   (or sync --from-ipynb X.ipynb to keep an .ipynb edit)")
    return status


# --------------------------------------------------------------------------- outputs


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
    if argv and argv[0] in ("sync", "diff"):
        flags = {a for a in argv[1:] if a.startswith("--")}
        unknown = flags - {"--from-ipynb", "--force"} if argv[0] == "sync" else flags
        if unknown:
            print(__doc__)
            return 2
        paths = [a for a in argv[1:] if not a.startswith("--")]
        if argv[0] == "diff":
            return diff(paths)
        if "--from-ipynb" in flags and not paths:
            print("sync --from-ipynb needs the notebooks to read, e.g. notebooks/02_memory.ipynb")
            return 2
        return sync(paths, from_ipynb="--from-ipynb" in flags, force="--force" in flags)
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
