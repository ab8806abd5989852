"""The seed recipe, its instrumentation and its outcome classification, on synthetic data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import ToTensor

from trainable import TrainConfig, Trainer, invariants, train
from trainable.model import build_model, make_optimizer
from trainable.train import prepare_inputs

from conftest import assert_refused, run_cli

SHORT = dict(epochs=3)


def test_inputs_are_totensor_flattened_channel_first_times_scale(data):
    images = data.train_x[:4]
    expected = torch.stack([ToTensor()(Image.fromarray(im.transpose(1, 2, 0))) for im in images]).flatten(1)
    assert torch.equal(prepare_inputs(images, 1.0, torch.device("cpu")), expected)
    assert torch.equal(prepare_inputs(images, 255.0, torch.device("cpu")), expected * 255)


def test_model_is_bias_free_mlp_with_scaled_default_init():
    base = build_model(TrainConfig(seed=3))
    scaled = build_model(TrainConfig(seed=3, init1=0.5, init2=1 / 255, hidden=300))
    assert [type(m).__name__ for m in base] == ["Linear", "ReLU", "Linear"]
    assert base[0].weight.shape == (300, 3072) and base[2].weight.shape == (10, 300)
    assert base[0].bias is None and base[2].bias is None
    bound = 1 / 3072**0.5  # nn.Linear's default (kaiming-uniform a=sqrt(5)) bound
    assert base[0].weight.abs().max() <= bound and base[0].weight.abs().max() > 0.9 * bound
    assert torch.equal(scaled[0].weight, base[0].weight * 0.5)
    assert torch.equal(scaled[2].weight, base[2].weight * (1 / 255))


def test_optimizer_has_one_param_group_per_layer():
    cfg = TrainConfig(lr1=0.1, lr2=0.2, wd1=1e-3, wd2=2e-3, momentum=0.8)
    model = build_model(cfg)
    groups = make_optimizer(model, cfg).param_groups
    assert [(g["params"][0] is w) for g, w in zip(groups, (model[0].weight, model[2].weight))] == [True, True]
    assert [(g["lr"], g["weight_decay"], g["momentum"]) for g in groups] == [(0.1, 1e-3, 0.8), (0.2, 2e-3, 0.8)]


def test_converged_run_records_every_metric_each_epoch(data):
    result = train(TrainConfig(**SHORT), data)
    assert result.outcome == "converged" and result.outcome_step is None
    assert [e["epoch"] for e in result.epochs] == [1, 2, 3]
    assert result.epochs[-1]["step"] == 3 * 4  # 1000 images, batch 250
    for epoch in result.epochs:
        assert all(np.isfinite(v) for v in epoch.values())
        assert 0 <= epoch["dead_frac"] < 1 and epoch["zero_output_frac"] == 0
    assert result.final["test_acc"] > 0.5
    assert result.invariants == invariants(TrainConfig(**SHORT))


@pytest.mark.parametrize("knobs, outcome", [
    (dict(lr1=1e5, lr2=1e5), "diverged"),
    (dict(init1=100, init2=100, lr1=1, lr2=1), "collapsed"),
    (dict(lr1=1e-9, lr2=1e-9), "stalled"),
])
def test_each_outcome_is_forced_and_detected(data, knobs, outcome):
    result = train(TrainConfig(epochs=10, **knobs), data)
    assert result.outcome == outcome
    if outcome == "stalled":
        assert len(result.epochs) == 10 and result.final["dead_frac"] < 1
        return
    assert result.outcome_step is not None and len(result.epochs) < 10  # stopped early
    assert result.final["step"] == result.outcome_step
    if outcome == "diverged":
        assert result.final["train_loss"] == float("inf")  # never NaN: Optuna rejects NaN
    else:
        assert result.final["zero_output_frac"] > 0.9 and result.final["grad_norm1"] == 0


def test_update_and_gradient_norms_follow_the_definition(data):
    trainer = Trainer(TrainConfig(epochs=1), data)
    w1_before = trainer.model[0].weight.detach().clone()
    metrics = trainer.run_epoch()
    assert metrics["weight_norm1"] == pytest.approx(trainer.model[0].weight.norm().item())
    assert 0 < metrics["update_ratio1"] < (trainer.model[0].weight - w1_before).norm() / w1_before.norm()
    assert metrics["grad_norm1"] > 0 and metrics["grad_norm2"] > 0


def test_cpu_runs_are_bit_for_bit_deterministic(data):
    runs = [train(TrainConfig(seed=7, **SHORT), data).epochs for _ in range(2)]
    strip = [[{k: v for k, v in e.items() if k != "seconds"} for e in run] for run in runs]
    assert strip[0] == strip[1]
    other = train(TrainConfig(seed=8, **SHORT), data).epochs
    assert other[0]["test_loss"] != runs[0][0]["test_loss"]


def test_resuming_from_state_dict_continues_bit_for_bit(data):
    cfg = TrainConfig(epochs=4)
    straight = train(cfg, data).epochs
    first = Trainer(cfg, data)
    first.run_epoch(), first.run_epoch()
    second = Trainer(cfg, data)
    second.load_state_dict(first.state_dict())
    while not second.done:
        second.run_epoch()
    drop = lambda rows: [{k: v for k, v in e.items() if k != "seconds"} for e in rows]  # noqa: E731
    assert drop(second.history) == drop(straight)


def test_equal_invariants_train_identically(data):
    """The seed's exact fix: x255 inputs, init2 / 255, lr2 / 255**2, wd2 * 255**2 has the baseline's invariants."""
    base = TrainConfig(epochs=4)
    fixed = TrainConfig(epochs=4, input_scale=255, init2=1 / 255, lr2=0.02 / 255**2, wd2=1e-4 * 255**2)
    assert invariants(fixed) == pytest.approx(invariants(base), rel=1e-12)
    a, b = train(base, data), train(fixed, data)
    assert a.outcome == b.outcome == "converged"
    for x, y in zip(a.epochs, b.epochs):
        assert y["test_acc"] == pytest.approx(x["test_acc"], abs=0.005)
        assert y["test_loss"] == pytest.approx(x["test_loss"], rel=1e-3)
    broken = train(TrainConfig(epochs=4, input_scale=255), data)
    assert broken.outcome in ("collapsed", "diverged", "stalled") and broken.final["test_acc"] < 0.2


def test_cli_prints_progress_and_a_json_summary():
    result = run_cli("-m", "trainable", "--synthetic", "500,100", "--epochs", "2", "--lr1", "0.01", "--threads", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["config"]["lr1"] == 0.01 and summary["outcome"] in ("converged", "stalled")
    assert summary["final"]["epoch"] == 2 and summary["data"] == "synthetic(500,100)"
    assert len([l for l in result.stderr.splitlines() if l.startswith("epoch")]) == 2


def test_cli_help_documents_every_knob():
    text = run_cli("-m", "trainable", "--help").stdout
    for flag in ("--input-scale", "--lr1", "--lr2", "--init1", "--init2", "--wd1", "--wd2", "--momentum", "--seed",
                 "--epochs", "--train-subset", "--data-dir", "--data-root", "--synthetic", "--device", "--threads"):
        assert flag in text


@pytest.mark.parametrize("args, words", [
    (["--lr1", "0"], ["lr1", "> 0"]),
    (["--lr2", "-0.1"], ["lr2"]),
    (["--lr1", "nan"], ["lr1"]),
    (["--input-scale", "-255"], ["input_scale"]),
    (["--init1", "0"], ["init1"]),
    (["--init2", "abc"], ["init2", "not a number"]),
    (["--epochs", "0"], ["epochs", ">= 1"]),
    (["--momentum", "1"], ["momentum"]),
    (["--data-dir", "/no/such/folder"], ["/no/such/folder", "does not exist"]),
    (["--synthetic", "x"], ["--synthetic"]),
    (["--bogus", "1"], ["unrecognized arguments"]),
])
def test_cli_refuses_bad_input_with_exit_2_and_one_line(args, words):
    assert_refused(run_cli("-m", "trainable", *args), *words)
