"""ModelArts' ``model_service`` package, as Atelier's Python runtime ships it.

Inference code written for ModelArts imports unchanged::

    from model_service.model_service import SingleNodeService
    from model_service.pytorch_model_service import PTServingBaseService
    from model_service.tfserving_model_service import TfServingBaseService

The bases load nothing themselves (no framework is installed with the
runtime): a handler loads its weights in ``__init__`` from ``model_path``.
"""
