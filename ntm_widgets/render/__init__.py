"""What the ReplayPlayer widget and the standalone HTML replay share.

- ``replay.js`` / ``replay.css``: the canvas renderer with its own play / pause / step /
  scrub bar, run by the widget (anywidget) and inlined in the standalone page; it
  reads the bytes of ``Trace.to_bytes`` (the format is written down in ``trace.py``,
  which stays below this room because ``to_bytes`` is a method of the trace);
- ``colormaps``: the lookup tables that make the browser colour like the figures;
- ``page``: the standalone page (``write_replay_html``).

Imports ``trace`` and ``plotting``; imported by ``widgets`` (and ``replay_html``, the
older import path of the page).
"""
