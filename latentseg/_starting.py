"""Ctrl-C while the command line starts: one line and exit status 130, as later.

Started as a command (``python -m latentseg``, while runpy finds the module ``argv[0]`` is ``"-m"``;
or the ``latentseg`` script), the package's imports take a second or more (torch). An interrupt then
would print a long ``KeyboardInterrupt`` traceback, and raising anything from inside half-done imports
(numpy's included) can fail on its own; nothing has been written yet, so the process just ends.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _as_command() -> bool:
    return bool(sys.argv) and (sys.argv[0] == "-m" or Path(sys.argv[0]).name == "latentseg")


def _end_quietly(signum, frame) -> None:
    sys.stderr.write("interrupted: stopped while starting, before anything was written\n")
    sys.stderr.flush()
    os._exit(130)


def restore_ctrl_c() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` again, which the command line turns into its own one line."""
    if _as_command():
        signal.signal(signal.SIGINT, signal.default_int_handler)


if _as_command():  # on import, first thing: until restore_ctrl_c, Ctrl-C ends a starting command in one line
    signal.signal(signal.SIGINT, _end_quietly)
