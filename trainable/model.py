"""The seed's network: 3072 -> hidden -> ReLU -> 10, no biases, default nn.Linear init scaled per layer."""
from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


def build_model(cfg: TrainConfig, in_features: int = 3072, classes: int = 10) -> nn.Sequential:
    """Default init drawn from `cfg.seed` (without touching the global RNG), then W1 *= init1, W2 *= init2."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = nn.Sequential(
            nn.Linear(in_features, cfg.hidden, bias=False),
            nn.ReLU(),
            nn.Linear(cfg.hidden, classes, bias=False),
        )
    with torch.no_grad():
        model[0].weight.mul_(cfg.init1)
        model[2].weight.mul_(cfg.init2)
    return model


def make_optimizer(model: nn.Sequential, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum; one param group per layer so each has its own lr and weight decay."""
    return torch.optim.SGD(
        [
            {"params": [model[0].weight], "lr": cfg.lr1, "weight_decay": cfg.wd1},
            {"params": [model[2].weight], "lr": cfg.lr2, "weight_decay": cfg.wd2},
        ],
        lr=cfg.lr1,
        momentum=cfg.momentum,
    )
