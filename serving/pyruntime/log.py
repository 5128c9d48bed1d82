"""ModelArts' top-level ``log`` module: ``import log; logger = log.getLogger(__name__)``."""

from model_service.log import get_logger, getLogger  # noqa: F401

__all__ = ["getLogger", "get_logger"]
