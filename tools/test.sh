#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run the whole suite:
# unit and widget tests, notebooks (nbval, quick mode) and the real-browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's chromium for the browser tests (no test ever downloads a browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian chromium for the browser tests ..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium missing and not root: browser tests will be skipped" >&2
  fi
fi

# constraints.txt pins torch to the CPU build that installs in seconds here.
python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,ray]'

export CI="${CI:-true}"   # notebooks run in their quick mode
export MPLBACKEND=Agg
python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider "$@"
