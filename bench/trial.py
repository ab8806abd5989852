"""Seconds per epoch, side by side on the same data: the seed's own loop, our trainable, and the matmul floor.

(a) the seed's loop: a dataset that, like torchvision's CIFAR10, holds decoded uint8 arrays and turns each item into
    a PIL image then ToTensor, read by DataLoader(batch_size=250, shuffle=True, num_workers=4); test set each epoch;
(b) trainable.Trainer.run_epoch: tensors preloaded, every metric and the outcome checks included;
(c) the floor: only the large matmuls an epoch must do (per step: x @ W1.T and the W1 gradient g.T @ x;
    per epoch: the test set's x @ W1.T), on tensors already in place.

    python bench/trial.py --data-dir ../shared/data/cifar10-jpeg.tar.gz
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from trainable import DataSource, TrainConfig, Trainer, load_dataset
from trainable.cli import add_data_arguments, data_source_from_args
from trainable.model import build_model, make_optimizer


class SeedStyleCIFAR(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does per item: uint8 HWC array -> PIL image -> transform."""

    def __init__(self, images_chw: np.ndarray, labels: np.ndarray):
        self.data = np.ascontiguousarray(images_chw.transpose(0, 2, 3, 1))  # back to HWC, as torchvision stores it
        self.targets = labels.tolist()
        self.transform = ToTensor()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def seed_loop(data, cfg: TrainConfig, epochs: int) -> float:
    """The question's training loop, as written with the usual PyTorch idioms; seconds per epoch."""
    model, train_set = build_model(cfg), SeedStyleCIFAR(data.train_x, data.train_y)
    optimizer = make_optimizer(model, cfg)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, num_workers=4)
    test_loader = DataLoader(SeedStyleCIFAR(data.test_x, data.test_y), batch_size=cfg.batch_size, num_workers=4)
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in train_loader:
            loss = F.cross_entropy(model(x.view(len(x), -1) * cfg.input_scale), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x.view(len(x), -1) * cfg.input_scale).argmax(1) == y).sum().item()
    return (time.perf_counter() - start) / epochs


def ours(data, cfg: TrainConfig, epochs: int) -> float:
    trainer = Trainer(cfg, data, "cpu")
    start = time.perf_counter()
    for _ in range(epochs):
        trainer.run_epoch()
    return (time.perf_counter() - start) / epochs


def matmul_floor(data, cfg: TrainConfig, epochs: int) -> tuple[float, float]:
    """(train steps' matmuls, + the test forward) per epoch."""
    x = torch.rand(len(data.train_y), 3072)
    test = torch.rand(len(data.test_y), 3072)
    w1 = torch.rand(cfg.hidden, 3072)
    grad_hidden = torch.rand(cfg.batch_size, cfg.hidden)
    steps = -(-len(x) // cfg.batch_size)
    train_seconds = test_seconds = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        for i in range(steps):
            batch = x[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            batch @ w1.T
            grad_hidden[: len(batch)].T @ batch
        middle = time.perf_counter()
        test @ w1.T
        train_seconds += middle - start
        test_seconds += time.perf_counter() - middle
    return train_seconds / epochs, (train_seconds + test_seconds) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed for (b) and (c)")
    parser.add_argument("--seed-epochs", type=int, default=1, help="epochs timed for (a), the slow one")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset(data_source_from_args(args) or DataSource())
    cfg = TrainConfig()
    print(f"data {data.source}: {len(data.train_y)} train / {len(data.test_y)} test images; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    floor_train, floor_all = matmul_floor(data, cfg, args.epochs)
    trainable = ours(data, cfg, args.epochs)
    seed = seed_loop(data, cfg, args.seed_epochs)
    print(f"(a) seed's loop (PIL + ToTensor + DataLoader, 4 workers): {seed:7.2f} s/epoch")
    print(f"(b) our trainable (instrumented):                        {trainable:7.2f} s/epoch")
    print(f"(c) matmul floor: train steps {floor_train:.2f} s/epoch, with the test forward {floor_all:.2f} s/epoch")
    print(f"speed-up of ours over the seed's loop:  {seed / trainable:5.2f}x")
    print(f"ours / matmul floor (same work):        {trainable / floor_all:5.2f}x   "
          f"(/ train-step matmuls alone: {trainable / floor_train:.2f}x)")


if __name__ == "__main__":
    main()
