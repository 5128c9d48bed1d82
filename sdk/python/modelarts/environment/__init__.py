"""ModelArts name for :class:`atelier.environment.Environment` (``from modelarts.environment import Environment``)."""

from atelier.environment import Environment

__all__ = ["Environment"]
