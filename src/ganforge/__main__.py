"""`python -m ganforge ...`: the same as the `ganforge` command."""

import sys

from ganforge.entry import main

sys.exit(main())
