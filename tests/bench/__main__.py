"""`python -m tests.bench [--quick] [--only drain,latency,...]`: run the suite, print
each figure as it comes, then the table; save JSON and Markdown in bench-results/."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from app.logging import configure_logging
from tests.bench.harness import RESULTS_DIR, Report, machine_description

# Each module has `run(report: Report, quick: bool) -> None`.
BENCHMARKS = {
    "ceiling": "tests.bench.ceiling",  # first: the drain reports its share of the ceiling
    "drain": "tests.bench.drain",
    "ai_load": "tests.bench.ai_load",
    "latency": "tests.bench.latency",
    "api": "tests.bench.api_load",
    "relay": "tests.bench.relay",
    "end_to_end": "tests.bench.end_to_end",
    "growth": "tests.bench.growth",
    "workflows": "tests.bench.workflows",  # issue 15: batches and sagas
    "waits": "tests.bench.waits",  # issue 16: parked tasks, signal resume latency
}
# Run only when named with --only.
EXTRA = {"more_workers": "tests.bench.more_workers"}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--quick", action="store_true", help="the short CI form (under 2 min)")
    parser.add_argument(
        "--only", default="", help="comma-separated subset: " + ",".join([*BENCHMARKS, *EXTRA])
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    known = {**BENCHMARKS, **EXTRA}
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    # The service's own log lines (migrations and the like) go to a file, not the table.
    configure_logging("bench", log_dir=RESULTS_DIR / "logs", level="WARNING")
    machine = machine_description()
    print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"PostgreSQL {machine['postgres']['server_version']}; {machine['date']}",
        flush=True,
    )
    report = Report(parameters={"quick": args.quick, "benchmarks": chosen})
    failed = []
    started = time.monotonic()
    for name in chosen:
        print(f"\n== {name}", flush=True)
        began = time.monotonic()
        try:
            importlib.import_module(known[name]).run(report, args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        report.data.setdefault("seconds", {})[name] = round(time.monotonic() - began, 1)
    report.data["total_seconds"] = round(time.monotonic() - started, 1)
    name = "quick" if args.quick else "latest" if chosen == list(BENCHMARKS) else "partial"
    path = report.save(machine, name)
    print("\n" + report.markdown())
    print(f"\nsaved {path} ({report.data['total_seconds']} s)")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
