"""ipywidgets / anywidget front ends: Playground, ReplayPlayer, AddressingExplorer."""
