"""ipywidgets / anywidget front ends: Playground, ReplayPlayer, AddressingExplorer, SweepView.

Each widget lives in its own module; they are imported on first use (module
``__getattr__``), so one that is missing or broken never stops the others importing.
"""

from importlib import import_module

_WHERE = {
    "Playground": ".playground",
    "DEFAULT_CONFIG": ".playground",
    "LiveCurves": ".curves",
    "ImageCurves": ".curves",
    "ReplayPlayer": ".replay",
    "AddressingExplorer": ".explorer",
    "SweepView": ".sweep_view",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(import_module(module, __name__), name)
    except ImportError as exc:
        raise AttributeError(f"{name} is not available: {exc}") from exc
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
