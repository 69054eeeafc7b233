"""What the command-line tests share: a tiny model's flags and an in-process call."""

from ntm_widgets.cli import main

# A model and task small enough that a step takes milliseconds.
TINY = "--memory-size 8 --word-size 4 --controller-size 16 --width 3 --max-len 4 --batch-size 4 --val-samples 20".split()


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``ntm-widgets ARGV`` run in this process."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
