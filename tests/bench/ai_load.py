"""AI-shaped load: tasks that spend their time waiting on a provider, not computing.

One worker process drains N tasks whose handler awaits 200 ms (as a call to an AI
provider does), at concurrency 500 and 2 000. With every slot busy the ideal rate is
concurrency / 0.2 s; the figure is the share of it reached, and the worker's peak RSS.
The same harness as the drain (fresh database, full bookkeeping, checked per task).
"""

from __future__ import annotations

from typing import Any

from tests.bench.drain import drain_once
from tests.bench.harness import Report, Summary
from tests.bench.peers import Config

HANDLER_MS = 200
TARGET_SHARE = 0.9  # of the ideal rate, at concurrency 500
TARGET_RSS_MB = 250.0


def run(report: Report, quick: bool) -> None:
    plans = [(500, 5_000, 1)] if quick else [(500, 20_000, 3), (2_000, 40_000, 2)]
    data: dict[str, Any] = {"handler_ms": HANDLER_MS, "runs": {}}
    report.data["ai_load"] = data
    config = Config("assistente", f"handler awaits {HANDLER_MS} ms", (f"sleep_ms={HANDLER_MS}",))
    for concurrency, tasks, repeats in plans:
        ideal = concurrency / (HANDLER_MS / 1000)
        runs = []
        for _ in range(repeats):
            run_ = drain_once(config, tasks, 1, concurrency)
            print(
                f"    AI-shaped x{concurrency}: {run_.rate:,.0f} tasks/s of {ideal:,.0f} ideal "
                f"({run_.rate / ideal:.0%}), peak RSS {run_.peak_rss_mb:.0f} MB, "
                f"CPU {run_.worker_cpu_us:.0f}+{run_.backend_cpu_us:.0f} µs/task, "
                f"starts written apart: {run_.starts.get('statements', 0)} statements, "
                f"{run_.starts.get('mean', 0)} tasks each",
                flush=True,
            )
            runs.append(run_)
        rate = Summary.of([r.rate for r in runs])
        rss = max(r.peak_rss_mb for r in runs)
        data["runs"][str(concurrency)] = {
            "tasks": tasks,
            "ideal_tasks_per_second": ideal,
            "tasks_per_second": rate.as_dict(),
            "peak_rss_mb": rss,
            "claims": [r.claims for r in runs],
            "finishes": [r.finishes for r in runs],
            "starts": [r.starts for r in runs],
        }
        share = rate.median / ideal
        at_target = concurrency == 500
        report.add(
            "AI-shaped load",
            f"1 worker x{concurrency}, {tasks:,} tasks awaiting {HANDLER_MS} ms",
            f"{rate.median:,.0f} tasks/s = {share:.0%} of the ideal {ideal:,.0f} "
            f"({rate.low:,.0f}-{rate.high:,.0f})",
            f"≥ {TARGET_SHARE:.0%}" if at_target else "",
            share >= TARGET_SHARE if at_target else None,
        )
        if concurrency == 500:
            _start_write_cost(report, data, config, concurrency, tasks, 1 if quick else 3)
        report.add(
            "AI-shaped load",
            f"worker peak RSS at concurrency {concurrency}",
            f"{rss:.0f} MB",
            f"< {TARGET_RSS_MB:.0f} MB" if at_target else "",
            rss < TARGET_RSS_MB if at_target else None,
        )


def _start_write_cost(
    report: Report, data: dict[str, Any], config: Config, concurrency: int, tasks: int, pairs: int
) -> None:
    """What writing Reserved -> Running apart from the finish costs: each round runs the
    defaults and, paired, a worker that leaves every start to its task's finish."""
    folded = Config(
        config.family, "starts written by the finish", (*config.sets, "start_write_ms=600000")
    )
    ratios, apart = [], []
    for _ in range(pairs):
        default = drain_once(config, tasks, 1, concurrency)
        baseline = drain_once(folded, tasks, 1, concurrency)
        ratios.append(default.rate / baseline.rate)
        apart.append(default.starts.get("statements", 0) * default.starts.get("mean", 0) / tasks)
        print(
            f"    start writes: defaults {default.rate:,.0f} vs left to the finish "
            f"{baseline.rate:,.0f} tasks/s; WAL {default.writes['wal_bytes_per_task']:,.0f} vs "
            f"{baseline.writes['wal_bytes_per_task']:,.0f} B/task",
            flush=True,
        )
    ratio = Summary.of(ratios)
    data["start_write_cost"] = {"ratios": ratios, "tasks_with_start_written_apart": apart}
    report.add(
        "AI-shaped load",
        f"Reserved -> Running written apart (x{concurrency}, {HANDLER_MS} ms tasks), paired",
        f"{ratio.median:.2f}x the rate with starts left to the finish "
        f"({ratio.low:.2f}-{ratio.high:.2f}); {max(apart):.0%} of tasks written apart",
        "",
        None,
    )
