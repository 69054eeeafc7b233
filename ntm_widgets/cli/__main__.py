"""``python -m ntm_widgets.cli``: the same as the ``ntm-widgets`` command."""

import sys

from . import main

sys.exit(main())
