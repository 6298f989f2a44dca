"""``python -m alpr``: the ``alpr`` command, for where the console script is not on PATH."""

import sys

from alpr.app.cli import main

sys.exit(main())
