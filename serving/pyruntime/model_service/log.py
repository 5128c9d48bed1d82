"""Logging for inference code: ``logger = log.getLogger(__name__)``.

Records go to stderr, which the platform keeps as the instance's log
(``get_service_logs``). The level is ``ATELIER_LOG_LEVEL`` (default INFO).
"""

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False


def _configure():
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("atelier.model")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    level = os.environ.get("ATELIER_LOG_LEVEL", "INFO").upper()
    root.setLevel(getattr(logging, level, logging.INFO))
    root.propagate = False


def getLogger(name=None):  # noqa: N802 - ModelArts' name
    """A logger writing to stderr; ``name`` is usually ``__name__``."""
    _configure()
    return logging.getLogger("atelier.model" + ("." + name if name else ""))


def get_logger(name=None):
    """The same as :func:`getLogger`."""
    return getLogger(name)
