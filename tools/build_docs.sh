#!/usr/bin/env bash
# Build the documentation site: docs/ -> docs/_build/html (Sphinx, myst-nb, furo).
# Runs the seven tutorials in quick mode (NTM_QUICK=1, a couple of minutes) and fails on
# any warning. Needs the docs extra: pip install -e '.[docs]'. Arguments go to
# sphinx-build (e.g. -E to re-read every page). docs/README.md says more.
set -euo pipefail
cd "$(dirname "$0")/.."
export NTM_QUICK=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's package, for Sphinx and the kernels
start=$SECONDS
python -m sphinx -b html -W --keep-going docs docs/_build/html "$@"
echo "docs built in $((SECONDS - start)) s: docs/_build/html/index.html" >&2
