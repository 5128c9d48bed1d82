"""ModelArts name for :class:`atelier.environment.CondaDependencies`."""

from atelier.environment import CondaDependencies

__all__ = ["CondaDependencies"]
