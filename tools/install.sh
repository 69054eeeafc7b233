#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine: Debian's chromium and a C
# compiler when root, then the package (editable) with its test and ray extras.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install PACKAGE PURPOSE WARNING: install a Debian package quietly when root,
# else print WARNING (what will be skipped without it).
apt_updated=
apt_install() {
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian $1 for $2 ..." >&2
    [ -n "$apt_updated" ] || apt-get update -qq
    apt_updated=1
    # shellcheck disable=SC2086  # $1 may name several packages
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $1 >/dev/null
  else
    echo "warning: $3" >&2
  fi
}

# Debian's chromium for the browser tests (no test ever downloads a browser).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium "the browser tests" "/usr/bin/chromium missing and not root: browser tests will be skipped"
fi

# A C compiler for the fused CPU step (ntm_widgets/core/fused.c, built on first use);
# without one the NTM falls back to eager PyTorch and tests/test_fused.py skips its
# equivalence tests.
if ! command -v "${CC:-cc}" >/dev/null 2>&1; then
  apt_install "gcc libc6-dev" "the fused CPU step" "no C compiler (${CC:-cc}) and not root: the fused CPU step and its tests will be skipped"
fi

# constraints.txt pins torch to the CPU build that installs in seconds here.
python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,ray,tensorboard]'
