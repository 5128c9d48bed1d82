"""ModelArts name for :class:`atelier.model.ServiceConfig`
(``from modelarts.config.model_config import ServiceConfig``)."""

from atelier.model import ServiceConfig

__all__ = ["ServiceConfig"]
