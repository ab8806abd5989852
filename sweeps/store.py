"""A study's results folder on any pyarrow filesystem (local path, NFS path, s3://, gs://).

Layout of `<out>/`:
    spec.json                    the resolved sweep spec (what --resume continues)
    tune/                        Ray Tune's experiment (trial checkpoints, searcher state)
    parts/trials/<key>.parquet   one row per finished run, written when the run ends
    parts/epochs/<key>.parquet   that run's per-epoch rows
    trials.parquet, epochs.parquet   all parts compacted (schema: docs/results.md)
Every file is written to a temporary name and then moved into place, and a run's part is named by its grid point,
so a killed driver leaves whole files only, and a re-run of the same point replaces rather than duplicates.
"""
from __future__ import annotations

import io
import json
import os
import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

TABLES = ("trials", "epochs")


def is_uri(location: str) -> bool:
    return "://" in location


class ResultsStore:
    def __init__(self, location: str):
        self.uri = location if is_uri(location) else os.path.abspath(location)
        self.fs, self.root = pafs.FileSystem.from_uri(self.uri if is_uri(self.uri) else f"file://{self.uri}")
        self.root = self.root.rstrip("/")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def holds_study(self) -> bool:
        return any(self.exists(name) for name in ("spec.json", "tune", "parts", "trials.parquet"))

    # ---- writing ---------------------------------------------------------------------------------
    def _atomic_write(self, relative: str, payload: bytes) -> None:
        final = self.path(relative)
        self.fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        temporary = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(payload)
        self.fs.move(temporary, final)

    def write_json(self, relative: str, obj: dict) -> None:
        self._atomic_write(relative, json.dumps(obj, indent=2).encode())

    def read_json(self, relative: str) -> dict:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return json.loads(stream.read())

    def write_table(self, relative: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self._atomic_write(relative, sink.getvalue())

    def write_part(self, key: str, trial_row: dict, epoch_rows: list[dict]) -> None:
        """One finished run: its epochs first, then its trial row (a trial row implies its epochs are there)."""
        self.write_table(f"parts/epochs/{key}.parquet", pa.Table.from_pylist(epoch_rows))
        self.write_table(f"parts/trials/{key}.parquet", pa.Table.from_pylist([trial_row]))

    # ---- reading ---------------------------------------------------------------------------------
    def read_parts(self, table: str) -> pa.Table | None:
        selector = pafs.FileSelector(self.path("parts", table), allow_not_found=True)
        files = sorted(f.path for f in self.fs.get_file_info(selector) if f.path.endswith(".parquet"))
        if not files:
            return None
        return pa.concat_tables([pq.read_table(f, filesystem=self.fs) for f in files], promote_options="permissive")

    def compact(self) -> dict[str, int]:
        """Rewrite trials.parquet and epochs.parquet from the parts; returns the row counts."""
        counts = {}
        for table in TABLES:
            data = self.read_parts(table)
            if data is None:
                continue
            sort_keys = [("trial_id", "ascending")] + ([("epoch", "ascending")] if table == "epochs" else [])
            self.write_table(f"{table}.parquet", data.sort_by(sort_keys))
            counts[table] = data.num_rows
        return counts
