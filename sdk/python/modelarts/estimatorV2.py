"""ModelArts name for :class:`atelier.estimator.Estimator` (``from modelarts.estimatorV2 import Estimator``)."""

from atelier.estimator import Estimator

__all__ = ["Estimator"]
