"""Finding the commands the tools run: the venv's own first (make installs them there), then PATH."""

import os
import shutil
import sys


def find(name):
    """Path of command ``name`` beside this Python (the venv), else on PATH; None if neither."""
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return exe if os.path.exists(exe) else shutil.which(name)
