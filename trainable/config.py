"""The knobs of one run of the seed recipe, their allowed values, and the invariants they determine."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


class ConfigError(ValueError):
    """A knob has a value outside what the recipe allows; the message names the field."""


# name -> (check, what is allowed). One table shared by the CLI, the sweep spec and the dataclass.
_RULES = {
    "input_scale": (lambda v: v > 0, "a finite number > 0"),
    "lr1": (lambda v: v > 0, "a finite number > 0"),
    "lr2": (lambda v: v > 0, "a finite number > 0"),
    "init1": (lambda v: v > 0, "a finite number > 0"),
    "init2": (lambda v: v > 0, "a finite number > 0"),
    "wd1": (lambda v: v >= 0, "a finite number >= 0"),
    "wd2": (lambda v: v >= 0, "a finite number >= 0"),
    "momentum": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "seed": (lambda v: v >= 0 and float(v).is_integer(), "an integer >= 0"),
    "epochs": (lambda v: v >= 1 and float(v).is_integer(), "an integer >= 1"),
    "batch_size": (lambda v: v >= 1 and float(v).is_integer(), "an integer >= 1"),
    "hidden": (lambda v: v >= 1 and float(v).is_integer(), "an integer >= 1"),
    "train_subset": (lambda v: v >= 0 and float(v).is_integer(), "an integer >= 0 (0 = the whole train set)"),
    "converged_min_acc": (lambda v: 0 < v < 1, "a number in (0, 1)"),
}


def check_value(name: str, value: object) -> float:
    """Return `value` as a number if `name` allows it, else raise ConfigError naming the field."""
    if name not in _RULES:
        raise ConfigError(f"unknown knob {name!r}; known: {', '.join(_RULES)}")
    check, allowed = _RULES[name]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a number; allowed: {allowed}") from None
    if not math.isfinite(number) or not check(number):
        raise ConfigError(f"{name}: {value!r} is not allowed; allowed: {allowed}")
    return number


@dataclass(frozen=True)
class TrainConfig:
    """One run. Defaults are the seed recipe: SGD lr 0.02, momentum 0.9, wd 1e-4, batch 250, 20 epochs."""

    input_scale: float = 1.0
    lr1: float = 0.02
    lr2: float = 0.02
    init1: float = 1.0
    init2: float = 1.0
    wd1: float = 1e-4
    wd2: float = 1e-4
    momentum: float = 0.9
    seed: int = 0
    epochs: int = 20
    batch_size: int = 250
    hidden: int = 300
    train_subset: int = 0
    converged_min_acc: float = 0.2  # "clearly above chance" for 10 classes

    def __post_init__(self) -> None:
        for f in fields(self):
            number = check_value(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, int(number) if f.type == "int" else number)

    def to_dict(self) -> dict:
        return asdict(self)


SWEEPABLE = ("input_scale", "lr1", "lr2", "init1", "init2", "wd1", "wd2", "momentum", "seed")


def invariants(cfg: TrainConfig) -> dict[str, float]:
    """What the training dynamics depend on (see README, 'Theory').

    With W_i = init_i * V_i and inputs scaled by c, SGD with momentum on V depends only on
    k = c*init1*init2, rho_i = lr_i / init_i**2, lr_i*wd_i and the momentum; rho_i*k**2 is
    layer i's step size in function space.
    """
    k = cfg.input_scale * cfg.init1 * cfg.init2
    rho1 = cfg.lr1 / cfg.init1**2
    rho2 = cfg.lr2 / cfg.init2**2
    return {
        "k": k,
        "rho1": rho1,
        "rho2": rho2,
        "fstep1": rho1 * k**2,
        "fstep2": rho2 * k**2,
        "decay1": cfg.lr1 * cfg.wd1,
        "decay2": cfg.lr2 * cfg.wd2,
    }
