"""A study as a Ray Tune experiment: the trial function, Optuna as the search algorithm, resume, fault tolerance."""
from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
import ray
import torch
from ray import tune
from ray.tune.search.optuna import OptunaSearch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from trainable import Dataset, Trainer

from .callbacks import SUMMARY_FILE, ParquetSink, ProgressLine
from .spec import SweepSpec
from .store import ResultsStore

METRIC, MODE = "test_acc", "max"
optuna.logging.set_verbosity(optuna.logging.WARNING)  # our progress line says what matters
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class StudyOptions:
    device: str = "cpu"  # cpu or gpu
    threads_per_trial: int = 1
    trials_per_gpu: int = 4
    max_failures: int = 3
    seed: int = 0  # the adaptive sampler's seed


def run_trial(config: dict, dataset: Dataset, spec: SweepSpec, threads: int) -> None:
    """One run, reported to Tune each epoch with a checkpoint, so a run cut by a lost node resumes where it was."""
    torch.set_num_threads(threads)
    trainer = Trainer(spec.resolve(config), dataset, "cuda" if ray.get_gpu_ids() else "cpu")
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / STATE_FILE))
    while not trainer.done:
        metrics = trainer.run_epoch()
        with tempfile.TemporaryDirectory() as folder:
            torch.save(trainer.state_dict(), Path(folder) / STATE_FILE)
            (Path(folder) / SUMMARY_FILE).write_text(json.dumps(trainer.result().to_dict()))
            tune.report({**metrics, "outcome": trainer.outcome or "running"},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def make_searcher(spec: SweepSpec, seed: int = 0) -> OptunaSearch:
    """Optuna's GridSampler (every point exactly once) or TPE (maximize test accuracy within the budget)."""
    if spec.search == "grid":
        grid = spec.grid_space()
        space = {k: optuna.distributions.CategoricalDistribution(v) for k, v in grid.items()}
        sampler = optuna.samplers.GridSampler(grid, seed=seed)
    else:
        space = {"scenario": optuna.distributions.CategoricalDistribution(list(spec.scenarios))} if spec.scenarios else {}
        for name, axis in spec.free_axes().items():
            space[name] = (optuna.distributions.FloatDistribution(*axis.log_range[:2], log=True) if axis.log_range
                           else optuna.distributions.CategoricalDistribution(list(axis.values)))
        sampler = optuna.samplers.TPESampler(seed=seed)
    return OptunaSearch(space, metric=METRIC, mode=MODE, sampler=sampler)


def trial_resources(options: StudyOptions) -> dict:
    if options.device == "gpu":
        return {"cpu": 1, "gpu": 1 / options.trials_per_gpu}
    return {"cpu": options.threads_per_trial}


def check_shared_storage(store: ResultsStore) -> None:
    """On a multi-node cluster a plain path must be the same folder on every node (NFS); raise if it is not."""
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if not store.is_local or len(nodes) < 2:
        return
    marker = f".shared-storage-probe-{uuid.uuid4().hex[:8]}"
    store.write_json(marker, {})

    @ray.remote(num_cpus=0)
    def visible(path: str) -> bool:
        return Path(path).exists()

    checks = [visible.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
              .remote(store.path(marker)) for n in nodes]
    try:
        blind = [n["NodeManagerAddress"] for n, ok in zip(nodes, ray.get(checks)) if not ok]
    finally:
        store.fs.delete_file(store.path(marker))
    if blind:
        raise ValueError(f"--storage {store.uri} is a folder on the head node only (not visible from "
                         f"{', '.join(blind)}); a multi-node study needs shared storage: s3://..., gs://..., "
                         "or an NFS path mounted on every node")


def build_tuner(spec: SweepSpec, dataset: Dataset, store: ResultsStore, options: StudyOptions, meta: dict,
                resume: bool) -> tune.Tuner:
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, dataset=dataset, spec=spec, threads=options.threads_per_trial),
        trial_resources(options))
    if resume:  # the saved experiment (searcher state, trials, callbacks) continues; only unfinished runs re-run
        return tune.Tuner.restore(store.path("tune"), trainable=trainable, resume_unfinished=True,
                                  restart_errored=True, storage_filesystem=store.fs)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=make_searcher(spec, options.seed), num_samples=spec.size,
                                    reuse_actors=True),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=store.root,
            storage_filesystem=store.fs,
            callbacks=[ParquetSink(store, meta, key_by_point=spec.search == "grid"),
                       ProgressLine(store, spec.size)],
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
        ),
    )
