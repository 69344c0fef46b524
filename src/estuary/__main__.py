"""``python -m estuary`` is the ``estuary`` command."""

import sys

from estuary.cli import main

sys.exit(main())
