"""ModelArts names for :mod:`atelier.train_params` (InputData, TrainingFiles, OutputData)."""

from atelier.train_params import InputData, OutputData, TrainingFiles

__all__ = ["InputData", "OutputData", "TrainingFiles"]
