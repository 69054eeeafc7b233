#!/usr/bin/env bash
# The README's test command: install what the tests need (tools/install.sh), then run
# the whole suite: lint, unit and widget tests, notebooks (nbval, quick mode) and the
# real-browser tests. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh

# Lint and format (configuration in pyproject.toml): the whole tree must be clean.
python -m ruff check .
python -m ruff format --check .

export CI="${CI:-true}"   # notebooks run in their quick mode
export MPLBACKEND=Agg
python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider "$@"
