"""Stability maps and reports from a study's Parquet results."""
