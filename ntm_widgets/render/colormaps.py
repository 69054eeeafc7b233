"""Colour lookup tables for the browser, sampled from the figures' own colour maps."""

from __future__ import annotations

from ..plotting.images import colormap_lut
from ..plotting.trace_plots import BITS_CMAP, MEMORY_CMAP, WEIGHT_CMAP


def colormap_tables() -> dict:
    """256-entry RGB tables (flat lists of 768 ints) from the same matplotlib colour maps
    as the static figure, so the browser and ``trace_figure`` colour alike."""
    return {
        k: colormap_lut(c).ravel().tolist() for k, c in (("memory", MEMORY_CMAP), ("weights", WEIGHT_CMAP), ("bits", BITS_CMAP))
    }
