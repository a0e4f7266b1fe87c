"""What a contender writes per task: heap rows, index entries and WAL bytes.

Taken around a drain: `pg_current_wal_lsn()` and the tables' `pg_stat_user_tables`
counters before and after, and the WAL in between read back with `pg_waldump
--stats=record`, which counts every record by kind (a heap insert, a HOT update, a
b-tree leaf insert...). WAL is cluster-wide, so the figures hold only while nothing
else writes to the server; the bench runs alone.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

WALDUMP_CANDIDATES = ("/usr/lib/postgresql/{major}/bin/pg_waldump", "pg_waldump")
RECORD_LINE = re.compile(r"^(\w+/[\w+-]+)\s+(\d+)\s")
# Index records that add one entry each (b-tree); a split adds pages, not entries.
INDEX_ENTRY_RECORDS = ("Btree/INSERT_LEAF", "Btree/INSERT_POST", "Btree/INSERT_UPPER")
HEAP_RECORDS = {
    "Heap/INSERT": "insert",
    "Heap/UPDATE": "update",
    "Heap/HOT_UPDATE": "hot_update",
    "Heap/DELETE": "delete",
    "Heap/LOCK": "lock",
    "Heap2/MULTI_INSERT": "multi_insert",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    lsn: str
    tables: dict[str, tuple[int, int, int, int]]  # ins, upd, hot_upd, del
    data_directory: str
    major: str


def snapshot(dsn: str) -> Snapshot:
    """The WAL position and every user table's write counters, now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
        rows = conn.execute(
            "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del"
            "  FROM pg_stat_user_tables"
        ).fetchall()
        directory = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
        version = conn.execute("SHOW server_version_num").fetchone()[0]  # type: ignore[index]
    return Snapshot(
        lsn, {name: tuple(counts) for name, *counts in rows}, directory, str(int(version) // 10000)
    )


def _waldump(major: str) -> str | None:
    for candidate in WALDUMP_CANDIDATES:
        path = candidate.format(major=major)
        if Path(path).exists() or shutil.which(path):
            return path
    return None


def wal_records(before: Snapshot, after: Snapshot) -> dict[str, int] | None:
    """Record counts by kind between two snapshots, or None when pg_waldump cannot read
    the server's WAL (another host, or no permission)."""
    tool = _waldump(after.major)
    if tool is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [
                tool,
                "--stats=record",
                "--path",
                str(Path(after.data_directory) / "pg_wal"),
                "--start",
                before.lsn,
                "--end",
                after.lsn,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        counts = {}
        for line in done.stdout.splitlines():
            match = RECORD_LINE.match(line.strip())
            if match:
                counts[match.group(1)] = int(match.group(2))
        return counts or None
    return None


def lsn_bytes(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def cost(before: Snapshot, after: Snapshot, tasks: int) -> dict[str, Any]:
    """Per-task figures between two snapshots, with the raw counts behind them."""
    tables: dict[str, dict[str, int]] = {}
    for name, counts in after.tables.items():
        old = before.tables.get(name, (0, 0, 0, 0))
        delta = [new - was for new, was in zip(counts, old, strict=True)]
        if any(delta):
            tables[name] = dict(zip(("ins", "upd", "hot_upd", "del"), delta, strict=True))
    heap_rows = sum(t["ins"] + t["upd"] + t["del"] for t in tables.values())
    hot = sum(t["hot_upd"] for t in tables.values())
    updates = sum(t["upd"] for t in tables.values())
    records = wal_records(before, after)
    result: dict[str, Any] = {
        "wal_bytes_per_task": (lsn_bytes(after.lsn) - lsn_bytes(before.lsn)) / tasks,
        "heap_rows_per_task": heap_rows / tasks,
        "hot_update_share": hot / updates if updates else None,
        "tables": tables,
    }
    if records is not None:
        result["index_entries_per_task"] = (
            sum(records.get(kind, 0) for kind in INDEX_ENTRY_RECORDS) / tasks
        )
        result["wal_records_per_task"] = sum(records.values()) / tasks
        result["heap_records_per_task"] = {
            short: records.get(kind, 0) / tasks for kind, short in HEAP_RECORDS.items()
        }
        result["full_page_images"] = records.get("XLOG/FPI", 0) + records.get(
            "XLOG/FPI_FOR_HINT", 0
        )
        result["wal_records"] = records
    return result
