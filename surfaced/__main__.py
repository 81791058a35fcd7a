"""`python -m surfaced` is the `surfaced` command."""

import sys

from surfaced.cli import main

sys.exit(main())
