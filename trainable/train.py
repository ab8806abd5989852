"""One instrumented run of the seed recipe, with tensors preloaded on the device and an outcome at the end.

Outcomes:
- `diverged`: the training loss (or a weight) became non-finite; the run stops at that step.
- `collapsed`: every hidden unit is off for every training input, so the output is identically zero and no gradient
  flows: an absorbing state (the seed's "all outputs become zero"). The run stops once that is certain (see
  `Trainer._dead_for_good`). A run that ends with zero output on every test image, though a few training images
  still reach a hidden unit, is `collapsed` too (at its last step).
- `converged`: finite at the end and test accuracy >= `converged_min_acc` (default 0.2, twice chance).
- `stalled`: finite and alive at the end but below that accuracy.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .config import TrainConfig, invariants
from .data import Dataset
from .model import build_model, make_optimizer

OUTCOMES = ("converged", "stalled", "collapsed", "diverged")
DEAD_PATIENCE = 10  # consecutive all-dead training batches before a certainty check
SUBSET_SEED = 1234  # the train subset is the same for every run of a sweep, whatever the run's seed


@dataclass
class RunResult:
    config: dict
    invariants: dict
    outcome: str
    outcome_step: int | None  # the step at which diverged/collapsed was detected
    steps: int
    device: str
    seconds: float
    epochs: list[dict] = field(default_factory=list)

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        return asdict(self)


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def prepare_inputs(images: np.ndarray, input_scale: float, device: torch.device) -> torch.Tensor:
    """The seed's inputs: ToTensor's `uint8 / 255` (channel-first), times the input scale, flattened."""
    with warnings.catch_warnings():  # arrays shared through Ray's object store are read-only; we only read them
        warnings.simplefilter("ignore", UserWarning)
        x = torch.from_numpy(images).to(device)
    return x.reshape(len(images), -1).float().div_(255).mul_(input_scale)


_TENSOR_CACHE: dict[tuple, tuple[torch.Tensor, ...]] = {}


def device_tensors(data: Dataset, cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Train inputs, train labels, test inputs, test labels on the device, as the recipe wants them.

    A reused Ray actor runs many trials on the same data; converting 50,000 images to float costs ~0.3 s, so the
    last two conversions are kept (the trainer never writes to them).
    """
    key = (data.source, len(data.train_y), cfg.input_scale, cfg.train_subset, str(device))
    if key not in _TENSOR_CACHE:
        train_x, train_y = data.train_x, data.train_y
        if cfg.train_subset and cfg.train_subset < len(train_y):
            keep = np.sort(np.random.default_rng(SUBSET_SEED).permutation(len(train_y))[: cfg.train_subset])
            train_x, train_y = train_x[keep], train_y[keep]
        labels = lambda y: torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)  # noqa: E731
        while len(_TENSOR_CACHE) >= 2:
            del _TENSOR_CACHE[next(iter(_TENSOR_CACHE))]
        _TENSOR_CACHE[key] = (prepare_inputs(train_x, cfg.input_scale, device), labels(train_y),
                              prepare_inputs(data.test_x, cfg.input_scale, device), labels(data.test_y))
    return _TENSOR_CACHE[key]


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.inf


class Trainer:
    """Holds one run's tensors, model, optimizer and shuffling generator; `run_epoch` advances it by one epoch."""

    def __init__(self, cfg: TrainConfig, data: Dataset, device: str | torch.device = "auto"):
        self.cfg = cfg
        self.device = pick_device(device) if isinstance(device, str) else device
        self.train_x, self.train_y, self.test_x, self.test_y = device_tensors(data, cfg, self.device)
        self.model = build_model(cfg, self.train_x.shape[1]).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict] = []
        self.step = 0
        self.seconds = 0.0
        self.outcome: str | None = None
        self.outcome_step: int | None = None
        self.dead_streak = 0  # consecutive training batches with every hidden unit off
        self.seen_alive = torch.zeros(len(self.train_y), dtype=torch.bool, device=self.device)  # see _dead_for_good

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def run_epoch(self) -> dict:
        """Train one epoch (or until the run diverges or collapses), evaluate on the full test set, record it."""
        start = time.perf_counter()
        w1, w2 = self.model[0].weight, self.model[2].weight
        n, batch = len(self.train_y), self.cfg.batch_size
        order = torch.randperm(n, generator=self.generator).to(self.device)
        # loss sum, correct, |grad1| sum, |grad2| sum: accumulated on the device, read once per epoch
        sums = torch.zeros(4, device=self.device, dtype=torch.float64)
        steps = 0
        before = None
        for begin in range(0, n, batch):
            idx = order[begin:begin + batch]
            x, y = self.train_x[idx], self.train_y[idx]
            hidden = self.model[1](self.model[0](x))
            logits = self.model[2](hidden)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if begin + batch >= n:  # last step: keep W to measure this step's update/weight ratio
                before = (w1.detach().clone(), w2.detach().clone())
            self.optimizer.step()
            self.step += 1
            steps += 1
            alive_rows = (hidden.detach() > 0).any(1)
            loss_value, any_alive = torch.stack([loss.detach(), alive_rows.any().float()]).tolist()  # one sync
            if not math.isfinite(loss_value):
                self._end("diverged")
                break
            sums += torch.stack([loss.detach() * len(y), (logits.argmax(1) == y).sum(),
                                 w1.grad.norm(), w2.grad.norm()]).double()
            self.seen_alive[idx] = alive_rows
            self.dead_streak = 0 if any_alive else self.dead_streak + 1
            if self.dead_streak >= DEAD_PATIENCE:
                if self._dead_for_good():
                    self._end("collapsed")
                    break
                self.dead_streak = 0
        metrics = self._epoch_metrics(sums, steps, before)
        if self.outcome is None and not all(map(math.isfinite, (metrics["weight_norm1"], metrics["weight_norm2"]))):
            self._end("diverged")
        if self.outcome == "diverged":
            metrics["train_loss"] = math.inf  # the loss that ended the run, never NaN (Optuna rejects NaN)
        metrics["seconds"] = time.perf_counter() - start
        self.seconds += metrics["seconds"]
        self.history.append(metrics)
        if self.outcome is None and len(self.history) >= self.cfg.epochs:
            if (self.dead_streak and self._dead_for_good()) or metrics["zero_output_frac"] == 1.0:
                self._end("collapsed")  # dead for good, or at least zero on every test image at the end
            else:
                self.outcome = "converged" if metrics["test_acc"] >= self.cfg.converged_min_acc else "stalled"
        return metrics

    def _end(self, outcome: str) -> None:
        self.outcome, self.outcome_step = outcome, self.step

    @torch.inference_mode()
    def _epoch_metrics(self, sums: torch.Tensor, steps: int, before: tuple | None) -> dict:
        loss_sum, correct, grad1, grad2 = sums.tolist()
        seen = max(1, min(steps * self.cfg.batch_size, len(self.train_y)))
        w1, w2 = self.model[0].weight, self.model[2].weight
        hidden = torch.relu(self.test_x @ w1.T)
        logits = hidden @ w2.T
        metrics = {
            "epoch": len(self.history) + 1,
            "step": self.step,
            "train_loss": _finite(loss_sum / seen),
            "train_acc": correct / seen,
            "test_loss": _finite(F.cross_entropy(logits, self.test_y).item()),
            "test_acc": (logits.argmax(1) == self.test_y).float().mean().item(),
            "grad_norm1": _finite(grad1 / max(steps, 1)),
            "grad_norm2": _finite(grad2 / max(steps, 1)),
            "weight_norm1": _finite(w1.norm().item()),
            "weight_norm2": _finite(w2.norm().item()),
            "update_ratio1": math.nan,
            "update_ratio2": math.nan,
            "dead_frac": 1.0 - (hidden > 0).any(0).float().mean().item(),
            "zero_output_frac": (logits == 0).all(1).float().mean().item(),
            "max_abs_logit": _finite(logits.abs().max().item()),
        }
        if before is not None:
            for i, (w, old) in enumerate(zip((w1, w2), before), start=1):
                metrics[f"update_ratio{i}"] = _finite(((w - old).norm() / old.norm()).item())
        return metrics

    @torch.inference_mode()
    def _dead_for_good(self) -> bool:
        """True when every hidden unit is off for every training input now and on the whole path ahead.

        With no data gradient, SGD moves W1 by momentum and weight decay alone, a linear map:
        buf' = b*buf + wd*W, W' = W - lr*buf'. So W_t = a_t*W + c_t*buf with scalars a_t, c_t. A unit stays
        off for input x iff a_t*(W x) + c_t*(buf x) <= 0 for all t; with a_t > 0 that is linear in r = c_t/a_t,
        so checking the smallest and largest r is enough. Inputs that were alive when last seen (in a training
        batch or a check) are tried first, so a failing check is usually cheap; a full pass over the training set
        happens about once a run.
        """
        w1 = self.model[0].weight
        group = self.optimizer.param_groups[0]
        lr, wd, beta = group["lr"], group["weight_decay"], group["momentum"]
        buf = self.optimizer.state.get(w1, {}).get("momentum_buffer")
        a, c, buf_w, buf_b = 1.0, 0.0, 0.0, 1.0  # W_t = a W + c buf;  buf_t = buf_w W + buf_b buf
        ratios = [0.0]
        horizon = 10_000 if beta == 0 else min(100_000, int(math.log(1e-8) / math.log(beta)) + 10)
        for _ in range(horizon):
            buf_w, buf_b = beta * buf_w + wd * a, beta * buf_b + wd * c
            a, c = a - lr * buf_w, c - lr * buf_b
            if a <= 0:
                return False  # the decay flips W's sign: no certainty
            ratios.append(c / a)
        low, high = min(ratios), max(ratios)
        reach = max(abs(low), abs(high)) * (buf.norm(dim=1) if buf is not None else 0.0)

        def alive(rows: torch.Tensor) -> torch.Tensor:
            x = self.train_x[rows]
            now = x @ w1.T
            if buf is None:
                return (now > 0).any(1)
            # |r * buf_j . x| <= reach_j * |x| (Cauchy-Schwarz): rows it clears need no second matmul
            unsure = (now + x.norm(dim=1, keepdim=True) * reach > 0).any(1)
            result = torch.zeros(len(rows), dtype=torch.bool, device=self.device)
            if unsure.any():
                drift = x[unsure] @ buf.T
                result[unsure] = ((now[unsure] + low * drift > 0) | (now[unsure] + high * drift > 0)).any(1)
            return result

        suspects = self.seen_alive.nonzero().squeeze(1)  # alive when last seen: most likely still alive
        if len(suspects):
            still = alive(suspects)
            self.seen_alive[suspects] = still
            if still.any():
                return False
        for rows in torch.arange(len(self.train_y), device=self.device).split(4096):
            found = alive(rows)
            if found.any():
                self.seen_alive[rows] = found
                return False
        return True

    def result(self) -> RunResult:
        return RunResult(
            config=self.cfg.to_dict(),
            invariants=invariants(self.cfg),
            outcome=self.outcome or "running",
            outcome_step=self.outcome_step,
            steps=self.step,
            device=str(self.device),
            seconds=self.seconds,
            epochs=list(self.history),
        )

    def state_dict(self) -> dict:
        """Everything needed to continue bit-for-bit: weights, momentum buffers, shuffling RNG, history."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "history": self.history,
            "step": self.step,
            "seconds": self.seconds,
            "outcome": self.outcome,
            "outcome_step": self.outcome_step,
            "dead_streak": self.dead_streak,
            "seen_alive": self.seen_alive,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.history = list(state["history"])
        self.step, self.seconds = state["step"], state["seconds"]
        self.outcome, self.outcome_step = state["outcome"], state["outcome_step"]
        self.dead_streak, self.seen_alive = state["dead_streak"], state["seen_alive"].to(self.device)


def train(cfg: TrainConfig, data: Dataset, device: str = "auto", threads: int | None = None,
          on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Run `cfg` to its end; `on_epoch` gets each epoch's metrics as they come."""
    if threads:
        torch.set_num_threads(threads)
    trainer = Trainer(cfg, data, device)
    while not trainer.done:
        metrics = trainer.run_epoch()
        if on_epoch:
            on_epoch(metrics)
    return trainer.result()
