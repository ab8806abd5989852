"""Stability studies: sweep specs, Ray Tune x Optuna runs, Parquet results."""
