"""``goalcluster serve``: a local web app over a chat thread (needs the ``web`` extra).

This module imports nothing from Starlette, so the CLI can name the extra when it is missing."""


class ServeError(ValueError):
    """The server cannot start as asked; the message says how to fix it."""


MISSING_EXTRA = (
    "goalcluster serve needs the web extra (Starlette and uvicorn): "
    '.venv/bin/pip install -c constraints.txt -e ".[web]"'
)
