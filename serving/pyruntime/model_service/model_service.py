"""The base classes of ModelArts inference code, as Atelier's Python runtime ships them.

ModelArts code starts with ``from model_service.model_service import
SingleNodeService`` and subclasses it; the runtime builds the subclass with
``(model_name, model_path)`` and serves each request with
``_postprocess(_inference(_preprocess(data)))``. The defaults here pass the
data through unchanged, so a handler overrides only what it needs.
"""

import time

from . import log

logger = log.getLogger(__name__)


class AbstractService:
    """AbstractService is the root of ModelArts' service classes.

    Subclasses implement :meth:`inference`; :meth:`ping` and
    :meth:`signature` exist for code that calls them.
    """

    def inference(self, data):
        """Turn a request's data into the response's data."""
        raise NotImplementedError("%s does not implement inference" % type(self).__name__)

    def ping(self):
        """Nothing: the runtime itself answers health checks."""
        return None

    def signature(self):
        """Nothing: the model's inputs and outputs are described by config.json's apis."""
        return None


class SingleNodeService(AbstractService):
    """SingleNodeService is a model served by one process (ModelArts' usual base).

    ``model_name`` is the model's registered name and ``model_path`` the
    directory the model package was unpacked in (config.json, the code and
    the weights). Atelier's runtime may call the methods of one instance from
    several threads at once.
    """

    def __init__(self, model_name, model_path):
        self.model_name = model_name
        self.model_path = model_path

    def inference(self, data):
        """``_postprocess(_inference(_preprocess(data)))``, logging the time each step took."""
        t0 = time.monotonic()
        data = self._preprocess(data)
        t1 = time.monotonic()
        data = self._inference(data)
        t2 = time.monotonic()
        data = self._postprocess(data)
        t3 = time.monotonic()
        logger.debug("preprocess %.1f ms, inference %.1f ms, postprocess %.1f ms",
                     (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return data

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        return data

    def _postprocess(self, data):
        return data
