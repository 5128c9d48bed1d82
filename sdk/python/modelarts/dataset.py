"""ModelArts name for :class:`atelier.dataset.Dataset` (``from modelarts.dataset import Dataset``)."""

from atelier.dataset import Dataset

__all__ = ["Dataset"]
