"""ModelArts name for :class:`atelier.estimator.EstimatorV1` (``from modelarts.estimator import Estimator``)."""

from atelier.estimator import EstimatorV1 as Estimator

__all__ = ["Estimator"]
