"""ModelArts names for :mod:`atelier.model` (``from modelarts.model import Model, Predictor``)."""

from atelier.model import Model, Predictor, ServiceConfig

__all__ = ["Model", "Predictor", "ServiceConfig"]
