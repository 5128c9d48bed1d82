"""ModelArts-compatible names for the Atelier SDK.

``from modelarts.session import Session`` gives :class:`atelier.session.Session`,
so that the ModelArts user manual's samples run against an Atelier server.
"""

from atelier import AtelierError, __version__

__all__ = ["AtelierError", "__version__"]
