"""The `ganforge` command's entry point: what must happen before torch is imported, then the CLI.

Importing torch takes seconds; a Ctrl-C in that time must not print a traceback. Nothing has been written
yet, so the process just says so and exits with status 130.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("interrupted while starting; nothing was written\n")
    os._exit(130)


def main() -> int:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from ganforge.cli import main as cli_main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
