"""Copy the trained NTMs of an ``ntm-widgets paper`` report folder into the package
(ntm_widgets/models/<task>.pt), with the command that made each and what it measured.

    python tools/ship_pretrained.py REPORT_DIR [--task T ...]
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ntm_widgets.shipped import MODELS, save_pretrained  # noqa: E402
from ntm_widgets.training import Trainer  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", type=Path)
    p.add_argument("--task", action="append", default=None, help="only these tasks (default: every finished one)")
    args = p.parse_args(argv)
    shipped = 0
    for result_file in sorted(args.report.glob("*/result.json")):
        result = json.loads(result_file.read_text())
        task = result["task"]
        if args.task and task not in args.task:
            continue
        if result.get("quick"):
            print(f"{task}: skipped (a --quick run)", file=sys.stderr)
            continue
        trainer = Trainer.load_run(result_file.parent / "ntm")
        measured = {k: result[k] for k in ("met", "measured", "samples", "test_seed", "seed")}
        measured["settings"] = result["ntm"]["settings"]
        measured["lstm_settings"] = result["lstm"]["settings"]
        path = save_pretrained(trainer, MODELS / f"{task}.pt", made_by=result["command"], measured=measured)
        print(f"{task}: {path} ({path.stat().st_size // 1024} KiB), target met: {result['met']}: {result['measured']}")
        shipped += 1
    return 0 if shipped else 1


if __name__ == "__main__":
    sys.exit(main())
