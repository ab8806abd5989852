"""What a study sweeps: a typed spec read from YAML presets, spec files and CLI overrides, checked before Ray starts.

An axis value is one of
- a number: the knob is fixed;
- a list of numbers: grid values;
- `{log: [start, stop, points]}` (CLI: `log:START:STOP:POINTS`): log-spaced grid values, and a continuous
  log range for adaptive (TPE) search;
- a string: an expression tying the knob to others, e.g. `lr1` or `0.02 / input_scale**2`.
`scenarios` (optional) are named sets of such values, crossed with the axes: the seed preset's "baseline",
"x255 lr/255", ... Knobs a spec leaves out keep the seed recipe's defaults.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import operator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trainable import SWEEPABLE, ConfigError, DataError, DataSource, TrainConfig, check_value

PRESETS_DIR = Path(__file__).parent / "presets"
SETTINGS = tuple(f.name for f in fields(TrainConfig) if f.name not in SWEEPABLE)  # epochs, train_subset, ...
SEARCHES = ("grid", "tpe")


class SpecError(ValueError):
    """The spec is not valid; the message names the field and what is allowed."""


@dataclass(frozen=True)
class Axis:
    """One knob's values: exactly one of `values` (grid, maybe with a log range for TPE) or `expr` (a tie)."""

    name: str
    values: tuple[float, ...] = ()
    log_range: tuple[float, float, int] | None = None
    expr: str | None = None

    @classmethod
    def parse(cls, name: str, raw: Any) -> "Axis":
        try:
            return cls._parse(name, raw)
        except ConfigError as exc:
            raise SpecError(f"axis {name}: {exc}") from None

    @classmethod
    def _parse(cls, name: str, raw: Any) -> "Axis":
        where = f"axis {name}"
        if name not in SWEEPABLE:
            raise SpecError(f"{where}: unknown axis; allowed: {', '.join(SWEEPABLE)}")
        if isinstance(raw, str):
            raw = raw.strip()
            if raw.startswith("log:"):
                raw = {"log": raw[4:].split(":")}
            elif "," in raw or _is_number(raw):
                raw = [v for v in raw.split(",") if v.strip()]
            else:
                return cls(name, expr=_check_expression(name, raw))
        if isinstance(raw, dict):
            if set(raw) != {"log"} or not isinstance(raw["log"], (list, tuple)) or len(raw["log"]) != 3:
                raise SpecError(f"{where}: a range is written {{log: [start, stop, points]}} (CLI: log:START:STOP:POINTS)")
            start, stop = (check_value(name, v) for v in raw["log"][:2])
            points = _as_int(raw["log"][2], f"{where}: points")
            if start <= 0 or stop <= 0 or points < 1:
                raise SpecError(f"{where}: log range needs start > 0, stop > 0 and points >= 1")
            values = tuple(float(v) for v in np.geomspace(start, stop, points))
            return cls(name, tuple(check_value(name, v) for v in values), (start, stop, points))
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        if not items:
            raise SpecError(f"{where}: empty list of values")
        values = tuple(check_value(name, _constant(name, v)) for v in items)
        if len(set(values)) != len(values):
            raise SpecError(f"{where}: repeated values {list(items)}")
        return cls(name, values)

    def to_raw(self) -> Any:
        """The YAML form this axis was read from (spec.json of a study round-trips through it)."""
        if self.expr is not None:
            return self.expr
        if self.log_range is not None:
            return {"log": list(self.log_range)}
        return list(self.values) if len(self.values) > 1 else self.values[0]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    axes: dict[str, Axis]
    scenarios: dict[str, dict[str, Axis]] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)
    data: DataSource = DataSource()
    search: str = "grid"
    trials: int = 0  # TPE budget; grid: the grid size
    description: str = ""

    # ---- reading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict) -> "SweepSpec":
        if not isinstance(raw, dict):
            raise SpecError("spec: expected a mapping with keys name, axes, scenarios, settings, data, search")
        known = {"name", "description", "axes", "scenarios", "settings", "data", "search", "trials"}
        unknown = set(raw) - known
        if unknown:
            raise SpecError(f"spec: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(known))}")
        name = str(raw.get("name") or "")
        if not name or any(c in name for c in "/\\ "):
            raise SpecError(f"name: {name!r} must be a non-empty folder name (no spaces or slashes)")
        axes = {k: Axis.parse(k, v) for k, v in _mapping(raw.get("axes"), "axes").items()}
        scenarios = {str(s): {k: Axis.parse(k, v) for k, v in _mapping(body, f"scenario {s}").items()}
                     for s, body in _mapping(raw.get("scenarios"), "scenarios").items()}
        settings = {}
        for key, value in _mapping(raw.get("settings"), "settings").items():
            if key not in SETTINGS:
                raise SpecError(f"settings: unknown setting {key!r}; allowed: {', '.join(SETTINGS)} "
                                f"(sweepable knobs go under axes)")
            try:
                settings[key] = check_value(key, value)
            except ConfigError as exc:
                raise SpecError(f"settings: {exc}") from None
        search = raw.get("search", "grid")
        if search not in SEARCHES:
            raise SpecError(f"search: {search!r} is unknown; allowed: {', '.join(SEARCHES)}")
        spec = cls(name, axes, scenarios, settings, _data_source(raw.get("data", "cifar10")), search,
                   _as_int(raw.get("trials", 0), "trials"), str(raw.get("description", "")))
        spec.validate()
        return spec

    @classmethod
    def preset(cls, name: str) -> "SweepSpec":
        return cls.from_dict(read_yaml(preset_path(name), f"preset {name}"))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "axes": {k: a.to_raw() for k, a in self.axes.items()},
            "scenarios": {s: {k: a.to_raw() for k, a in body.items()} for s, body in self.scenarios.items()},
            "settings": dict(self.settings),
            "data": asdict(self.data),
            "search": self.search,
            "trials": self.trials,
        }

    # ---- the grid ------------------------------------------------------------------------------
    def free_axes(self) -> dict[str, Axis]:
        """Axes that vary (more than one value): Optuna's search space, with `scenario` when there are scenarios."""
        return {k: a for k, a in self.axes.items() if a.expr is None and len(a.values) > 1}

    def grid_space(self) -> dict[str, list]:
        space: dict[str, list] = {"scenario": list(self.scenarios)} if self.scenarios else {}
        space.update({k: list(a.values) for k, a in self.free_axes().items()})
        return space

    def grid_points(self) -> list[dict]:
        space = self.grid_space()
        return [dict(zip(space, combo)) for combo in itertools.product(*space.values())]

    def resolve(self, point: dict) -> TrainConfig:
        """The run of one point (free axis values, and `scenario` if any): fixed values, then ties, in order."""
        chosen = dict(self.axes)
        chosen.update(self.scenarios.get(point.get("scenario"), {}))
        values = {k: point[k] if k in point else a.values[0] for k, a in chosen.items() if a.expr is None}
        ties = {k: a.expr for k, a in chosen.items() if a.expr is not None}
        knobs = {k: getattr(TrainConfig, k) for k in SWEEPABLE} | values
        for name in _tie_order(ties):
            knobs[name] = _evaluate(ties[name], knobs)
        try:
            return TrainConfig(**knobs, **self.settings)
        except ConfigError as exc:
            where = f" (scenario {point['scenario']})" if "scenario" in point else ""
            raise SpecError(f"{exc}{where}") from None

    @property
    def size(self) -> int:
        return self.trials if self.search == "tpe" else len(self.grid_points())

    def validate(self) -> None:
        """Every point resolves to a valid run; scenarios and axes do not set the same knob twice."""
        for s, body in self.scenarios.items():
            both = set(body) & set(self.free_axes())
            if both:
                raise SpecError(f"scenario {s}: sets {', '.join(sorted(both))}, which is also a swept axis")
            varying = [k for k, a in body.items() if a.expr is None and len(a.values) > 1]
            if varying:
                raise SpecError(f"scenario {s}: {', '.join(varying)} must be one value or an expression")
        if self.search == "tpe" and self.trials < 1:
            raise SpecError("trials: adaptive (tpe) search needs a trial budget >= 1")
        for point in self.grid_points():
            self.resolve(point)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.exists():
        raise SpecError(f"preset {name!r} is unknown; available: {', '.join(preset_names())}")
    return path


def read_yaml(path: Path, where: str) -> dict:
    """A spec file's raw mapping; unreadable files and bad YAML are SpecErrors naming `where`."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise SpecError(f"{where}: {path} cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: {path} must hold a mapping with name, axes, settings, data")
    return raw


def point_key(point: dict) -> str:
    """A stable file name for a grid point: the same point always gets the same results file."""
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:20]


# ---- helpers ------------------------------------------------------------------------------------
def _mapping(raw: Any, where: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: expected a mapping of name: value")
    return raw


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _constant(name: str, item: Any) -> Any:
    """A list item may be a constant expression such as `1/255`."""
    if isinstance(item, str) and not _is_number(item):
        return _evaluate(_check_expression(name, item), {})
    return item


def _as_int(value: Any, where: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: {value!r} is not an integer") from None
    if not number.is_integer():
        raise SpecError(f"{where}: {value!r} is not an integer")
    return int(number)


def _data_source(raw: Any) -> DataSource:
    """`cifar10`, `synthetic`, or a mapping {kind, path, n_train, n_test}."""
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        raise SpecError("data: expected cifar10, synthetic, or {kind: folder, path: PATH}")
    unknown = set(raw) - {"kind", "path", "n_train", "n_test"}
    if unknown:
        raise SpecError(f"data: unknown key(s) {', '.join(sorted(unknown))}; allowed: kind, path, n_train, n_test")
    try:
        return DataSource(**{k: _as_int(v, f"data: {k}") if k.startswith("n_") else v for k, v in raw.items()})
    except DataError as exc:
        raise SpecError(f"data: {exc}") from None


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log}


def _check_expression(name: str, text: str) -> str:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise SpecError(f"axis {name}: {text!r} is neither a number, a list, log:START:STOP:POINTS "
                        "nor a valid expression") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in SWEEPABLE and node.id not in _FUNCTIONS:
            raise SpecError(f"axis {name}: expression {text!r} names {node.id!r}; it may use "
                            f"{', '.join(SWEEPABLE)} and {', '.join(_FUNCTIONS)}")
        if not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call,
                                 ast.Load, *_OPERATORS)):
            raise SpecError(f"axis {name}: expression {text!r} may only use numbers, knob names, + - * / ** "
                            f"and {', '.join(_FUNCTIONS)}()")
    return text


def _names(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)} - set(_FUNCTIONS)


def _tie_order(ties: dict[str, str]) -> list[str]:
    """Ties in an order where each comes after the ties it reads; a cycle is an error."""
    order: list[str] = []
    pending = dict(ties)
    while pending:
        ready = [k for k, text in pending.items() if not (_names(text) & set(pending))]
        if not ready:
            raise SpecError(f"axes {', '.join(sorted(pending))}: tie expressions refer to each other in a cycle")
        for k in ready:
            order.append(k)
            del pending[k]
    return order


def _evaluate(text: str, knobs: dict[str, float]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in knobs:
                raise SpecError(f"expression {text!r}: {node.id} has no value here")
            return knobs[node.id]
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp):
            return _OPERATORS[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1:
            return _FUNCTIONS[node.func.id](walk(node.args[0]))
        raise SpecError(f"expression {text!r}: unsupported element {ast.dump(node)[:40]}")

    try:
        return walk(ast.parse(text, mode="eval"))
    except (ArithmeticError, ValueError) as exc:
        raise SpecError(f"expression {text!r}: {exc}") from None
