"""ModelArts' PyTorch base class (``from model_service.pytorch_model_service import PTServingBaseService``).

On ModelArts the base loads the model file with torch; Atelier's runtime
ships no framework, so here it only records ``model_name`` and
``model_path`` and the subclass loads the model (``self.model = ...``) in
its own ``__init__``.
"""

from .model_service import SingleNodeService


class PTServingBaseService(SingleNodeService):
    """PTServingBaseService is the base of PyTorch handlers; see SingleNodeService."""

    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        self.model = None

    def _inference(self, data):
        """Call ``self.model`` on the data when the subclass set one, else pass it through."""
        if callable(self.model):
            return self.model(data)
        return data
