"""python sweeps/grid.py: run a stability study (Ray Tune x Optuna) and leave Parquet results and a report.

    python sweeps/grid.py                          # the quick preset: a coarse lr1 x lr2 map at input scale 1 and 255
    python sweeps/grid.py --preset seed --data-dir ../shared/data/cifar10-jpeg.tar.gz
    python sweeps/grid.py --preset smoke --lr1 log:1e-3:10:5 --input-scale 1,255
    python sweeps/grid.py --out results/quick --resume   # continue an interrupted study
    python sweeps/grid.py --address auto --storage s3://bucket/studies   # on a Ray cluster (see README)
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # each forced snapshot would warn
import ray  # noqa: E402

logging.getLogger("ray.tune.search.optuna.optuna_search").setLevel(logging.ERROR)  # "Study.stop" at grid end

from analysis.report import build_report
from analysis.results import AnalysisError
from trainable import SWEEPABLE, DataError, load_dataset
from trainable.cli import OneLineParser, add_data_arguments, data_source_from_args, fail
from sweeps.spec import SETTINGS, SpecError, SweepSpec, preset_names, preset_path, read_yaml
from sweeps.store import ResultsStore
from sweeps.study import StudyOptions, build_tuner, check_shared_storage

PROG = "python sweeps/grid.py"


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_argument_group("what to sweep")
    source = what.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help=f"one of {', '.join(preset_names())} (default: quick)")
    source.add_argument("--spec", type=Path, help="a YAML spec file (same format as sweeps/presets/*.yaml)")
    for name in SWEEPABLE:
        what.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="VALUES",
                          help="override this axis: 0.01,0.02 | log:START:STOP:POINTS | an expression such as lr1")
    for name in SETTINGS:
        what.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="N", help=f"override the {name} setting")
    what.add_argument("--search", choices=("grid", "tpe"), help="grid: every point once; tpe: adaptive (Optuna TPE)")
    what.add_argument("--trials", help="the adaptive search's trial budget")
    add_data_arguments(parser)
    where = parser.add_argument_group("where it runs and where results go")
    where.add_argument("--out", help="results folder or URI (default: STORAGE/<spec name>)")
    where.add_argument("--storage", default="results",
                       help="parent of the results folder: a path, an NFS path, s3://... or gs://... (default: results)")
    where.add_argument("--address", help="a Ray cluster to join (auto, or HOST:PORT); default: start Ray locally")
    where.add_argument("--resume", action="store_true", help="continue the interrupted study in the results folder")
    where.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                       help="auto: GPUs when the cluster has some (default)")
    where.add_argument("--threads-per-trial", type=int, default=1, help="CPU threads per trial (default 1)")
    where.add_argument("--trials-per-gpu", type=int, default=4, help="trials sharing one GPU (default 4)")
    where.add_argument("--max-failures", type=int, default=3, help="retries of a run whose worker died (default 3)")
    where.add_argument("--no-report", action="store_true", help="skip the heatmap report at the end")
    return parser


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The preset or spec file, with the command line's overrides applied, validated as a whole."""
    if args.spec is not None:
        raw = read_yaml(args.spec, "--spec")
    else:
        raw = read_yaml(preset_path(args.preset or "quick"), "--preset")
    raw.setdefault("axes", {})
    raw.setdefault("settings", {})
    raw["axes"].update({k: getattr(args, k) for k in SWEEPABLE if getattr(args, k) is not None})
    raw["settings"].update({k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None})
    if args.search:
        raw["search"] = args.search
    if args.trials is not None:
        raw["trials"] = args.trials
    data = data_source_from_args(args)
    if data is not None:
        raw["data"] = asdict(data)
    return SweepSpec.from_dict(raw)


def provenance(spec: SweepSpec) -> dict:
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        commit = git.stdout.strip() if git.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"sweep": spec.name, "data_source": spec.data.path or spec.data.kind,
            "package_version": importlib.metadata.version("stability-sweep"), "git_commit": commit}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag in ("threads_per_trial", "trials_per_gpu", "max_failures"):
        if getattr(args, flag) < (0 if flag == "max_failures" else 1):
            fail(f"{PROG}: error: --{flag.replace('_', '-')}: {getattr(args, flag)} is too small")
    try:
        if args.resume:
            changed = [k for k in (*SWEEPABLE, *SETTINGS, "preset", "spec", "search", "trials")
                       if getattr(args, k) is not None]
            if changed or args.data_dir or args.synthetic:
                raise SpecError(f"--resume continues the saved spec; drop {', '.join(changed) or 'the data flags'}")
            if not args.out:
                raise SpecError("--resume needs --out, the results folder of the study to continue")
            store = ResultsStore(args.out)
            if not store.exists("spec.json") or not store.exists("tune"):
                raise SpecError(f"--resume: {store.uri} holds no study to continue (no spec.json and tune/)")
            spec = SweepSpec.from_dict(store.read_json("spec.json"))
        else:
            spec = spec_from_args(args)
            store = ResultsStore(args.out or f"{args.storage.rstrip('/')}/{spec.name}")
            if store.holds_study():
                raise SpecError(f"--out: {store.uri} already holds a study; pass --resume to continue it, "
                                "or choose another --out")
        dataset = load_dataset(spec.data)
    except (SpecError, DataError) as exc:
        fail(f"{PROG}: error: {exc}")

    print(f"study {spec.name}: {spec.size} runs ({spec.search} over "
          f"{' x '.join(spec.grid_space()) or 'one point'}), data {dataset.source}, results {store.uri}", flush=True)
    ray.init(address=args.address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             **({} if args.address else {"num_cpus": os.cpu_count()}))
    try:
        check_shared_storage(store)
    except ValueError as exc:
        ray.shutdown()
        fail(f"{PROG}: error: {exc}")
    device = args.device if args.device != "auto" else ("gpu" if ray.cluster_resources().get("GPU") else "cpu")
    options = StudyOptions(device=device, threads_per_trial=args.threads_per_trial,
                           trials_per_gpu=args.trials_per_gpu, max_failures=args.max_failures)
    if not args.resume:
        store.write_json("spec.json", spec.to_dict())
    start = time.monotonic()
    build_tuner(spec, dataset, store, options, provenance(spec), resume=args.resume).fit()
    counts = store.compact()
    record_session(store, time.monotonic() - start)
    print(f"done in {time.monotonic() - start:.0f}s: {counts.get('trials', 0)} runs, {counts.get('epochs', 0)} "
          f"epoch rows in {store.path('trials.parquet')} and {store.path('epochs.parquet')}", flush=True)
    if not args.no_report:
        write_report(store)
    return 0


def record_session(store: ResultsStore, seconds: float) -> None:
    """study.json: wall time summed over the sessions (a resumed study has several), for the report."""
    study = store.read_json("study.json") if store.exists("study.json") else {"wall_seconds": 0.0, "sessions": 0}
    study = {"wall_seconds": study["wall_seconds"] + seconds, "sessions": study["sessions"] + 1}
    store.write_json("study.json", study)


def write_report(store: ResultsStore) -> None:
    if not store.is_local:
        print(f"results: {store.uri}; make the report where they are local: python -m analysis report FOLDER")
        return
    try:
        print(f"report: {build_report(store.root, Path(store.root) / 'report')}")
    except AnalysisError as exc:
        print(f"no report: {exc}")


if __name__ == "__main__":
    raise SystemExit(main())
