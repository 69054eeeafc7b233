"""Sphinx configuration of the ntm-widgets documentation site (docs/README.md).

Build it with ``bash tools/build_docs.sh`` (HTML in docs/_build/html). What this file
does besides the usual settings:

- imports the package from this checkout (not whatever ``pip install -e`` points at),
  and hands the same PYTHONPATH to the notebook kernels;
- copies the tutorials, ``notebooks/NN_name.ipynb``, into ``docs/tutorials/`` (not
  committed) with two cells added: a note that the page shows a quick-mode run, and a
  hidden cell that gives ``ReplayPlayer`` a static HTML form (below);
- executes them with ``NTM_QUICK=1`` (myst-nb, ``nb_execution_mode = "force"``);
- writes standalone replays of the shipped trained models into ``_static/replays/``
  for the Replays page.

Theme: furo. It follows the reader's light or dark setting (with a toggle), has a
readable measure for long prose like the README's, and a per-page table of contents;
it needs no configuration beyond the logo-less defaults.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
# The notebook kernels inherit this process's environment: same package, quick mode.
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
os.environ.setdefault("NTM_QUICK", "1")

import ntm_widgets  # noqa: E402  (after the path is set)

project = "ntm-widgets"
author = "the ntm-widgets authors"
copyright = "the ntm-widgets authors, MIT licence"
release = version = ntm_widgets.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
templates_path: list = []
html_theme = "furo"
html_title = f"ntm-widgets {release}"
html_static_path = ["_static"]
html_css_files = ["docs.css"]
html_js_files = ["widget-note.js"]

# MyST: GitHub-style anchors for the README's "#the-papers-five-tasks" links.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "dollarmath"]

# Notebooks: run every time (a clean build is what CI checks), in quick mode, and fail
# the build on any error. NTM_DOCS_EXECUTE=off (or cache) skips the runs while editing prose.
nb_execution_mode = os.environ.get("NTM_DOCS_EXECUTE", "force")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# A ReplayPlayer's static HTML form (the standalone replay) over its widget view, which
# needs anywidget's front end and so cannot be drawn on a static page.
nb_mime_priority_overrides = [("html", "text/html", 0)]

# API reference from the docstrings (plain reST prose; napoleon for Args/Returns blocks).
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# ---------------------------------------------------------------- the tutorials

NOTEBOOKS = ROOT / "notebooks"
TUTORIALS = DOCS / "tutorials"

QUICK_NOTE = """\
```{note}
This page is the notebook `notebooks/%s.ipynb`, run while the site was built in
**quick mode** (`NTM_QUICK=1`): tiny models trained for a few steps, so that all seven
tutorials run in a couple of minutes. The numbers it prints and the models it draws are
those of such runs and mean little; run the notebook in Jupyter without `CI` or
`NTM_QUICK` set for the real ones. Interactive widgets need a running kernel: here the
Playground and the AddressingExplorer show their last state, or nothing offline, and each
replay is drawn by the standalone replay page (same renderer, it plays in the browser).
```"""

# Hidden first code cell: ReplayPlayer gains a "text/html" form, an iframe holding the
# same self-contained page `ReplayPlayer.save_html` writes (replay.js, data inlined).
REPLAY_HTML_CELL = """\
import html as _html

from ntm_widgets.render.page import replay_html as _replay_html
from ntm_widgets.widgets.replay import ReplayPlayer as _ReplayPlayer

_widget_bundle = _ReplayPlayer._repr_mimebundle_


def _docs_bundle(self, **kwargs):
    data, meta = _widget_bundle(self, **kwargs)
    page = _html.escape(_replay_html(self.trace, width=720), quote=True)
    frame = f'<iframe class="ntm-replay" srcdoc="{page}" title="{_html.escape(repr(self))}"></iframe>'
    return {**data, "text/html": frame}, meta


_ReplayPlayer._repr_mimebundle_ = _docs_bundle
"""


def _cell(cell_type: str, source: str, cell_id: str, tags=()):
    cell = {"cell_type": cell_type, "id": cell_id, "metadata": {"tags": list(tags)} if tags else {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def copy_tutorials() -> None:
    """notebooks/NN_*.ipynb -> docs/tutorials/, with the note and the hidden cell added.
    Files are rewritten only when their text changes, so Sphinx re-runs only those."""
    TUTORIALS.mkdir(exist_ok=True)
    wanted = set()
    for src in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(src.read_text(encoding="utf-8"))
        cells = nb["cells"]
        # After the title cell: the note; before the first code cell: the hidden set-up.
        cells.insert(1, _cell("markdown", QUICK_NOTE % src.stem, "docs-quick-note"))
        cells.insert(2, _cell("code", REPLAY_HTML_CELL, "docs-replay-html", tags=["remove-cell"]))
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        dst = TUTORIALS / src.name
        wanted.add(dst)
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            dst.write_text(text, encoding="utf-8")
    for old in TUTORIALS.glob("[0-9][0-9]_*.ipynb"):
        if old not in wanted:
            old.unlink()


copy_tutorials()

# ---------------------------------------------------------------- the replays

GENERATED = DOCS / "_build" / "generated"
(GENERATED / "static").mkdir(parents=True, exist_ok=True)  # Sphinx checks it exists before builder-inited
html_static_path.append(str(GENERATED / "static"))

# (task, length, seed, what the page says about it)
REPLAYS = [
    ("copy", 20, 0, "the longest length it trained on"),
    ("copy", 40, 0, "twice the longest length it trained on"),
]


def write_replays(app) -> None:
    """Standalone replays of the shipped models -> _static/replays/TASK-LENGTH.html."""
    from ntm_widgets import pretrained
    from ntm_widgets.render.page import write_replay_html
    from ntm_widgets.trace import record_trace

    out = GENERATED / "static" / "replays"
    out.mkdir(parents=True, exist_ok=True)
    trainers = {}
    for task, length, seed, _ in REPLAYS:
        trainer = trainers.get(task) or trainers.setdefault(task, pretrained(task))
        trace = record_trace(trainer.model, trainer.task, length=length, seed=seed)
        title = f"Shipped {task.replace('_', ' ')} NTM, length {length}, seed {seed}"
        write_replay_html(trace, out / f"{task}-{length}.html", title=title, width=720)


# ---------------------------------------------------------------- docstrings

_NOT_PROSE = re.compile(r"^(:|\.\. |[-*+] |\d+[.)] |>>>)")


def literal_blocks(app, what, name, obj, options, lines) -> None:
    """The package's docstrings show code, formulas and file listings as an indented
    block after a blank line, without reST's "::". Mark such blocks as literal, so they
    are drawn as code instead of quotes (or, for listings, warnings)."""
    for i in range(len(lines) - 1, 1, -1):
        before, blank, block = lines[i - 2], lines[i - 1], lines[i]
        if blank.strip() or not before.strip() or before.rstrip().endswith("::"):
            continue
        indent = len(before) - len(before.lstrip())
        if len(block) - len(block.lstrip()) > indent and block.strip() and not _NOT_PROSE.match(before.lstrip()):
            lines[i - 2] = before.rstrip() + " ::"


def setup(app):
    app.connect("builder-inited", write_replays)
    app.connect("autodoc-process-docstring", literal_blocks)
