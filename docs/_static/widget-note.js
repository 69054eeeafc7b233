// Notebook pages: a Jupyter widget output is a <script> that only Jupyter's widget
// scripts (loaded from a CDN by myst-nb) can draw, and only as a still picture of the
// state the notebook left it in. Say so above each one, so that a blank space offline
// (or a widget that does not respond) is explained.
document.addEventListener("DOMContentLoaded", () => {
  for (const tag of document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')) {
    const note = document.createElement("p");
    note.className = "ntm-widget-note";
    note.textContent =
      "Interactive widget: it works in Jupyter with a running kernel. Here it shows the state " +
      "the notebook left it in when the Jupyter widget scripts can load (online), and nothing offline.";
    tag.parentNode.insertBefore(note, tag);
  }
});
