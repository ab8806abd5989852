"""`python -m trainable`: one run of the seed recipe with a progress line per epoch and a JSON summary at the end."""
from __future__ import annotations

import json
import sys
from dataclasses import fields

from .cli import OneLineParser, add_data_arguments, data_source_from_args, fail
from .config import ConfigError, TrainConfig
from .data import DataError, DataSource, load_dataset
from .train import train

HELP = {
    "input_scale": "multiply the [0,1] inputs by this (the seed's problem: 255)",
    "lr1": "learning rate of layer 1 (3072->hidden)",
    "lr2": "learning rate of layer 2 (hidden->10)",
    "init1": "factor on layer 1's default nn.Linear init",
    "init2": "factor on layer 2's default nn.Linear init",
    "wd1": "weight decay of layer 1",
    "wd2": "weight decay of layer 2",
    "momentum": "SGD (heavy-ball) momentum",
    "seed": "seeds the init and the per-epoch shuffling",
    "epochs": "number of epochs",
    "batch_size": "mini-batch size",
    "hidden": "hidden width",
    "train_subset": "train on this many images (a fixed random subset; 0 = all 50,000)",
    "converged_min_acc": "final test accuracy from which a finite run counts as converged",
}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m trainable", description=__doc__)
    for f in fields(TrainConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=f.default, metavar="V",
                            help=f"{HELP[f.name]} (default: {f.default})")
    add_data_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
        if args.threads is not None and args.threads < 1:
            raise ConfigError(f"--threads: {args.threads} is not allowed; allowed: an integer >= 1")
        data = load_dataset(data_source_from_args(args) or DataSource())
    except (ConfigError, DataError) as exc:
        fail(f"python -m trainable: error: {exc}")

    def progress(m: dict) -> None:
        print(f"epoch {m['epoch']:3d}  step {m['step']:6d}  train loss {m['train_loss']:.4g} acc {m['train_acc']:.3f}"
              f"  test loss {m['test_loss']:.4g} acc {m['test_acc']:.3f}  dead {m['dead_frac']:.2f}"
              f"  |grad1| {m['grad_norm1']:.3g}  {m['seconds']:.1f}s", file=sys.stderr, flush=True)

    result = train(cfg, data, device=args.device, threads=args.threads, on_epoch=progress)
    summary = {k: v for k, v in result.to_dict().items() if k != "epochs"}
    summary["final"] = result.final
    summary["data"] = data.source
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
