"""ModelArts' ``modelarts.config`` package (``modelarts.config.model_config``)."""
