"""Atelier Python SDK: a standard-library-only client of the Atelier platform.

    from atelier import Session
    session = Session()                      # ATELIER_TOKEN or `atelier login`
    session.obs.upload_file("/data/a.txt", "obs://bucket/dir/")

The ``modelarts`` package beside this one re-exports the SDK under the
ModelArts names so that ModelArts samples run unchanged.
"""

from ._version import __version__
from .errors import AtelierError
from .session import Session

__all__ = ["AtelierError", "Session", "__version__"]

from .callbacks import Callbacks  # noqa: E402 - appended with the event callback API

__all__ += ["Callbacks"]
