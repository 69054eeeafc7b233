"""The standalone HTML replay; it lives in ``ntm_widgets.render.page``, this name stays for existing imports."""

from .render.page import replay_html, write_replay_html

__all__ = ["replay_html", "write_replay_html"]
