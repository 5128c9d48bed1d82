"""ModelArts name for :class:`atelier.session.Session`."""

from atelier.session import Session

__all__ = ["Session"]
