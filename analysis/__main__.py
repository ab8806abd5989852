"""python -m analysis report RESULTS_DIR [--out DIR] [--format html|md] [--svg]"""
from __future__ import annotations

from trainable.cli import OneLineParser, fail

from .report import build_report
from .results import AnalysisError


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m analysis", description="Stability heatmap reports from sweep results.")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="write the HTML or Markdown report of a results folder")
    report.add_argument("results", help="a results folder written by sweeps/grid.py (trials.parquet, epochs.parquet)")
    report.add_argument("--out", help="where to write the report (default: RESULTS/report)")
    report.add_argument("--format", choices=("html", "md"), default="html",
                        help="html: one self-contained page (images embedded); md: Markdown + PNGs")
    report.add_argument("--svg", action="store_true", help="also save every figure as SVG")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.results, args.out, args.format, args.svg)
    except AnalysisError as exc:
        fail(f"python -m analysis: error: {exc}")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
