"""The plain-text line a widget shows where no front end draws it (a terminal, nbval).

Jupyter asks ``_repr_mimebundle_`` for every form; the widget's own "text/plain" is the
ipywidgets default (the class and its children), which says nothing to a reader.
"""

from __future__ import annotations


def with_plain_text(bundle, text: str):
    """``bundle`` (a dict, or (data, metadata)) with its "text/plain" set to ``text``."""
    data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
    if data is not None:
        data = {**data, "text/plain": text}
    return data, meta
