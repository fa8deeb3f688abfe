"""Progress lines for a watching runner, kept out of the notebook being executed.

``moana reproduce`` sets :data:`PROGRESS_ENV` to a file before it starts a notebook's kernel;
code inside that kernel (a training run's epochs, a WSSS step) calls :func:`report`, which
appends one line to that file, and the runner prints each new line while the stage runs. With
the variable unset (a notebook opened in JupyterLab, a test) :func:`report` does nothing, so
executed notebooks hold no timing lines from it.
"""

from __future__ import annotations

import os

PROGRESS_ENV = "MOANA_PROGRESS_FILE"


def report(message: str) -> None:
    """Append ``message`` (one line) to the file named by :data:`PROGRESS_ENV`, if set."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    line = " ".join(str(message).split())
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError:  # the runner went away: progress is informative only
        pass
