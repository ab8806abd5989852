"""Command-line pieces shared by `python -m trainable` and `python sweeps/grid.py`."""
from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from .data import DataSource


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad input as one line on stderr and exit code 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: error: {message}")


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (default: torchvision downloads CIFAR-10)")
    group.add_argument("--data-dir", metavar="PATH",
                       help="a local CIFAR-10: image folder with train/ and test/ (10 class folders each, png/jpg), "
                            "an extracted cifar-10-batches-py folder, or a .tar.gz of either; decoded once, cached")
    group.add_argument("--data-root", metavar="DIR",
                       help="where torchvision downloads CIFAR-10 (default: $STABILITY_SWEEP_CACHE/torchvision, "
                            "i.e. ~/.cache/stability-sweep/torchvision)")
    group.add_argument("--synthetic", metavar="N_TRAIN[,N_TEST]",
                       help="deterministic CIFAR-shaped data made in memory, e.g. 2000,500 (tests and demos)")


def data_source_from_args(args: argparse.Namespace) -> DataSource | None:
    """The DataSource the flags ask for, or None when none was given (the caller picks its default)."""
    if args.data_dir and args.synthetic:
        fail("--data-dir and --synthetic exclude each other; pick one")
    if args.data_dir:
        return DataSource("folder", os.path.abspath(args.data_dir))  # a resumed study may run from elsewhere
    if args.synthetic:
        try:
            sizes = [int(v) for v in args.synthetic.split(",")]
            n_train, n_test = (sizes + [max(1, sizes[0] // 4)])[:2]
            return DataSource("synthetic", n_train=n_train, n_test=n_test)
        except ValueError as exc:
            fail(f"--synthetic: {args.synthetic!r} is not N_TRAIN[,N_TEST] with positive integers ({exc})")
    if args.data_root:
        return DataSource("cifar10", args.data_root)
    return None
