#!/usr/bin/env bash
# Build the wheel and the sdist, install the wheel (not editable) into a fresh virtual
# environment, and check that the installed package works on its own: its data files
# are there, the demo runs, and it is not reading this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python -m pip install -q --disable-pip-version-check -c constraints.txt build
python -m build -q --outdir "$work/dist" . >/dev/null
wheel=("$work"/dist/*.whl)
sdist=("$work"/dist/*.tar.gz)
echo "built ${wheel[0]##*/} and ${sdist[0]##*/}" >&2

# The sdist carries what a wheel is built from (the C source, the JS, the models).
tar -tzf "${sdist[0]}" > "$work/sdist.txt"
for f in ntm_widgets/core/fused.c ntm_widgets/core/fused_body.h ntm_widgets/render/replay.js ntm_widgets/models/copy.pt; do
  grep -q "/$f\$" "$work/sdist.txt" || { echo "sdist lacks $f" >&2; exit 1; }
done

python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt "${wheel[0]}"
cd "$work"  # away from the checkout, so that only the installed package can be imported
"$work/venv/bin/python" - <<'PY'
import importlib.resources as r
from pathlib import Path

import ntm_widgets

pkg = Path(ntm_widgets.__file__).parent
assert "site-packages" in str(pkg), pkg
for name in ("core/fused.c", "core/fused_body.h", "render/replay.js", "render/replay.css", "widgets/explorer.js", "models/copy.pt"):
    assert (r.files("ntm_widgets") / name).is_file(), f"the wheel lacks {name}"
trainer = ntm_widgets.pretrained("copy")
table = trainer.evaluate([20], samples=20, seed=5)
assert table[20]["mean"] < 1, table
print(f"installed {ntm_widgets.__version__} at {pkg}: package data present, pretrained copy at length 20: {table[20]['mean']:.2f} wrong bits")
PY
"$work/venv/bin/ntm-widgets" demo --time-limit 5 --samples 10 --val-samples 100 --out "$work/demo" --json > "$work/demo.json"
"$work/venv/bin/python" -c "
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert d['steps'] > 0 and d['html'], d
print('demo from the wheel:', d['steps'], 'steps,', d['seconds'], 's, replay', d['html'])
" "$work/demo.json"
