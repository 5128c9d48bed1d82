"""ModelArts' TensorFlow base class (``from model_service.tfserving_model_service import TfServingBaseService``).

On ModelArts the base loads a SavedModel; Atelier's runtime ships no
framework, so here it only records ``model_name`` and ``model_path``, and
``model_inputs`` / ``model_outputs`` start empty for the subclass to fill.
"""

from .model_service import SingleNodeService


class TfServingBaseService(SingleNodeService):
    """TfServingBaseService is the base of TensorFlow handlers; see SingleNodeService."""

    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        self.model_inputs = {}
        self.model_outputs = {}
