"""Sweep specs: value forms, ties, scenarios, presets, and every refusal naming its field."""
from __future__ import annotations

import math

import pytest

from trainable import TrainConfig, invariants
from sweeps.spec import Axis, SpecError, SweepSpec, point_key, preset_names


def spec(**raw) -> SweepSpec:
    return SweepSpec.from_dict({"name": "t", "data": "synthetic", **raw})


def test_value_forms():
    assert Axis.parse("lr1", 0.1).values == (0.1,)
    assert Axis.parse("lr1", [0.1, "1/255"]).values == (0.1, 1 / 255)
    assert Axis.parse("lr1", "0.1,0.2").values == (0.1, 0.2)
    log = Axis.parse("lr1", "log:1e-4:1:5")
    assert log.values == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1, 1)) and log.log_range == (1e-4, 1.0, 5)
    assert Axis.parse("lr1", {"log": [1e-4, 1, 5]}) == log
    assert Axis.parse("lr2", "lr1 / 2").expr == "lr1 / 2"
    for axis in (log, Axis.parse("lr2", "lr1"), Axis.parse("seed", [0, 1])):
        assert Axis.parse(axis.name, axis.to_raw()) == axis


def test_grid_is_the_product_of_free_axes_and_ties_follow():
    s = spec(axes={"input_scale": [1, 255], "lr1": "log:1e-3:1e-1:3", "lr2": "0.02 / input_scale**2", "seed": 4})
    points = s.grid_points()
    assert s.size == len(points) == 6 and len({point_key(p) for p in points}) == 6
    cfg = s.resolve({"input_scale": 255.0, "lr1": 0.01})
    assert cfg == TrainConfig(input_scale=255, lr1=0.01, lr2=0.02 / 255**2, seed=4)


def test_chained_ties_resolve_in_order_and_cycles_are_refused():
    s = spec(axes={"lr1": 0.1, "lr2": "wd2 * 10", "wd2": "lr1 / 100"})
    assert s.resolve({}).lr2 == pytest.approx(0.01)
    with pytest.raises(SpecError, match="cycle"):
        spec(axes={"lr1": "lr2", "lr2": "lr1"})


def test_seed_preset_scenarios_have_the_invariants_the_theory_says():
    s = SweepSpec.preset("seed")
    assert s.size == 7 * 3
    runs = {name: s.resolve({"scenario": name, "seed": 0}) for name in s.scenarios}
    base = invariants(runs["baseline"])
    assert invariants(runs["x255 exact fix"]) == pytest.approx(base)
    assert invariants(runs["x255 lr/255^2"])["fstep1"] == pytest.approx(base["fstep1"])
    assert invariants(runs["x255"])["fstep2"] == pytest.approx(base["fstep2"] * 255**2)
    assert invariants(runs["x255 lr/255 init1/255"])["k"] == pytest.approx(1)
    assert runs["x255 lr/255 init/255"].init1 == runs["x255 lr/255 init/255"].init2 == pytest.approx(1 / 255)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_valid_and_round_trips(name):
    s = SweepSpec.preset(name)
    assert SweepSpec.from_dict(s.to_dict()) == s
    assert s.size >= 1 and s.description


def test_quick_preset_spans_both_scales():
    s = SweepSpec.preset("quick")
    assert s.axes["input_scale"].values == (1, 255) and s.settings["train_subset"] > 0
    assert s.data.kind == "cifar10"


@pytest.mark.parametrize("raw, words", [
    ({"axes": {"lr3": [1]}}, ["axis lr3", "unknown axis"]),
    ({"axes": {"lr1": []}}, ["axis lr1", "empty"]),
    ({"axes": {"lr1": [0.1, -1]}}, ["lr1", "> 0"]),
    ({"axes": {"input_scale": 0}}, ["input_scale"]),
    ({"axes": {"lr1": "log:1:0:3"}}, ["lr1"]),
    ({"axes": {"lr1": "log:1e-3:1"}}, ["lr1", "log"]),
    ({"axes": {"lr2": "lr1 +"}}, ["axis lr2", "expression"]),
    ({"axes": {"lr2": "__import__('os')"}}, ["axis lr2"]),
    ({"axes": {"lr2": "foo * 2"}}, ["axis lr2", "foo"]),
    ({"axes": {"lr2": "lr1 - 1"}}, ["lr2", "> 0"]),
    ({"axes": {"momentum": [0.9, 1.5]}}, ["momentum"]),
    ({"settings": {"epochs": 0}}, ["epochs"]),
    ({"settings": {"lr1": 1}}, ["settings", "lr1"]),
    ({"search": "random"}, ["search", "grid, tpe"]),
    ({"search": "tpe"}, ["trials"]),
    ({"data": "imagenet"}, ["data", "imagenet"]),
    ({"colour": "red"}, ["unknown key", "colour"]),
    ({"scenarios": {"a": {"lr1": [1, 2]}}}, ["scenario a"]),
    ({"name": "a b"}, ["name"]),
])
def test_bad_specs_are_refused_naming_the_field(raw, words):
    with pytest.raises(SpecError) as info:
        spec(**raw)
    for word in words:
        assert word in str(info.value)


def test_tpe_space_uses_log_ranges():
    s = spec(axes={"lr1": "log:1e-4:1:5", "seed": [0, 1]}, search="tpe", trials=7)
    assert s.size == 7 and set(s.free_axes()) == {"lr1", "seed"}
    assert math.isclose(s.resolve({"lr1": 3e-3, "seed": 1}).lr1, 3e-3)
