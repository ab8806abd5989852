"""One run of the seed recipe (CIFAR-10, 3072-300-10 bias-free MLP, SGD with momentum), instrumented."""
from .config import SWEEPABLE, ConfigError, TrainConfig, check_value, invariants
from .data import DataError, Dataset, DataSource, load_dataset, synthetic_dataset
from .train import OUTCOMES, RunResult, Trainer, train

__all__ = [
    "SWEEPABLE", "ConfigError", "TrainConfig", "check_value", "invariants",
    "DataError", "Dataset", "DataSource", "load_dataset", "synthetic_dataset",
    "OUTCOMES", "RunResult", "Trainer", "train",
]
