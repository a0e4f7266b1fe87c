"""SQL ceiling: the drain's claim-and-complete work done by pgbench, with no Python at all.

Two families, each one task per iteration and in batches of 50:

- `minimal`: a bare queue table (pgbench/minimal_queue.sql), claimed with FOR UPDATE
  SKIP LOCKED and marked done in one transaction: the database's limit for a queue.
- `ours`: our engine's own `task_lease_available` and `task_finish_attempts`, read from
  sql/queries at run time and rendered into pgbench SQL, so the ceiling follows the
  engine's SQL as it changes. Two transactions per iteration, as the worker commits.

Tasks/s is the rows that ended done, counted in the database after the run, over
pgbench's own measured time; the drain benchmark divides its rate by these to say
what share of the database's limit the engine reaches. Every run gets a fresh
database, variants alternate round by round, and each run is checked row by row.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import statistics
import string
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.queries import parse_queries, query
from app.adapters.postgres.task_repository import PgTaskRepository
from app.application.ports import FinishedAttempt, Usage
from app.application.task_repository import EnqueueTask, NewTask
from app.domain import outcome as outcomes
from app.domain.ids import new_task_id
from tests.bench.contenders import ours
from tests.bench.harness import Report, Summary, fmt_rate, scratch_database

SECTION = "SQL ceiling"
SCRIPTS = Path(__file__).with_name("pgbench")
CLIENTS = 2  # pgbench --client: the machine's two cores, one client each
JOBS = 2  # pgbench --jobs
BATCHES = (1, 50)
FAMILIES = ("minimal", "ours")
LEASE_SECONDS = 30
ENQUEUE_CHUNK = 1000  # rows per enqueue statement, as ours.enqueue sends them
MAX_TRIES = 3  # runs of one variant that ran its queue dry before giving up
# First guesses of each variant's rate (tasks/s), to size its queue; each run's
# measured rate replaces them. A queue that runs dry is refilled bigger and rerun.
FIRST_GUESS = {
    ("minimal", 1): 4_000.0,
    ("minimal", 50): 70_000.0,
    ("ours", 1): 2_000.0,
    ("ours", 50): 15_000.0,
}
HEADROOM = {"minimal": 2.0, "ours": 1.4}  # minimal rows cost little to insert

LABELS = {"minimal": "minimal queue", "ours": "our schema, full bookkeeping"}
TRANSACTIONS = {"minimal": 1, "ours": 2}  # per claim-and-complete iteration
STATEMENTS = {"minimal": ("begin", "claim", "mark_done", "commit"), "ours": ("claim", "finish")}
WORKER_ID = "('pgbench-' || :client_id)"  # one worker id per pgbench client


@dataclass(frozen=True, slots=True)
class Variant:
    family: str
    batch: int

    @property
    def key(self) -> str:
        """The variant's key in report.data["ceiling"], e.g. `ours_batch50`."""
        return f"{self.family}_batch{self.batch}"

    @property
    def label(self) -> str:
        return f"{LABELS[self.family]}, batch {self.batch}"


@dataclass(frozen=True, slots=True)
class Pgbench:
    """What pgbench itself reported."""

    transactions: int
    tps: float
    latency_ms: float
    wall_seconds: float
    # Mean latency of each statement of the script, in its order (--report-per-command).
    statement_ms: tuple[float, ...]

    @property
    def seconds(self) -> float:
        """pgbench's measured run time, without connecting."""
        return self.transactions / self.tps if self.tps else 0.0


@dataclass(frozen=True, slots=True)
class CeilingRun:
    variant: Variant
    queued: int  # tasks in the queue when pgbench started
    done: int  # tasks that ended done, counted in the database
    pgbench: Pgbench
    setup_seconds: float  # new database, queue filled, vacuumed

    @property
    def rate(self) -> float:
        return self.done / self.pgbench.seconds if self.pgbench.seconds else 0.0

    @property
    def ran_dry(self) -> bool:
        """Too few tasks left for every claim to have found a full batch (the other
        client may hold one): the clients may have idled, so the rate is too low."""
        return self.queued - self.done < CLIENTS * self.variant.batch


# -- rendering the engine's SQL for pgbench ---------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%|%")
_NOISE = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/""", re.DOTALL)
_PGBENCH_VARIABLE = re.compile(r"(?<!:):([A-Za-z_]\w*)")
PGBENCH_VARIABLES = {"client_id", "batch"}


def strip_comments(sql: str) -> str:
    """The SQL without comments (string literals kept): pgbench would read a colon in a
    comment as a variable. Dollar quoting is refused: this scanner does not know it."""
    if "$" in sql:
        raise ValueError(f"dollar quoting is not supported here:\n{sql}")
    text = _NOISE.sub(lambda m: m.group(0) if m.group(0)[0] in "'\"" else "", sql)
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def fill_placeholders(sql: str, values: Mapping[str, str], *, name: str, for_pgbench: bool) -> str:
    """Each psycopg `%(name)s` of `sql` replaced by SQL text from `values`.

    A placeholder `values` does not know is an error: the engine's statement changed
    and the ceiling must be taught what the new parameter means, never guess.
    """
    unknown: set[str] = set()

    def swap(match: re.Match[str]) -> str:
        token, key = match.group(0), match.group(1)
        if token == "%%":
            return "%" if for_pgbench else token
        if key is None:
            raise ValueError(f"{name}: a lone % in the SQL")
        if key not in values:
            unknown.add(key)
            return token
        return values[key]

    text = _PLACEHOLDER.sub(swap, strip_comments(sql)).strip().removesuffix(";").rstrip()
    if unknown:
        raise ValueError(
            f"{name} has placeholders tests/bench/ceiling.py cannot fill: "
            f"{', '.join(sorted(unknown))}; teach it what they mean"
        )
    return text


def check_pgbench_variables(script: str) -> None:
    """pgbench substitutes `:name` anywhere, even in string literals: only ours may appear."""
    literals = " ".join(re.findall(r"'(?:[^']|'')*'", script))
    outside = _NOISE.sub(" ", script)
    stray = set(_PGBENCH_VARIABLE.findall(outside)) - PGBENCH_VARIABLES
    stray |= set(_PGBENCH_VARIABLE.findall(literals))
    if stray:
        raise ValueError(f"pgbench would read these as variables: {', '.join(sorted(stray))}")


# -- the engine's own statements and parameters -----------------------------------------

SAMPLE_TASK = uuid.UUID("0190c0de-0000-7000-8000-00000000ce11")
SAMPLE_ATTEMPT = 9_876_543_211
SAMPLE_WORKER = "ceiling-sample-worker"
SAMPLE_LIMIT = 987_654_321


class Recorder:
    """Stands in for a psycopg pool, connection and cursor and keeps what an adapter
    sends: the ceiling runs the engine's statements with the parameters the engine
    itself builds, whatever their current shape."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Recorder]:
        yield self

    @asynccontextmanager
    async def cursor(self, **_: Any) -> AsyncIterator[Recorder]:
        yield self

    async def execute(self, sql: str, params: Mapping[str, Any]) -> Recorder:
        self.sent.append((sql, dict(params)))
        return self

    async def fetchall(self) -> list[Any]:
        return []


def recorded(call: Callable[[Any], Coroutine[Any, Any, object]]) -> tuple[str, dict[str, Any]]:
    """The one statement and parameters `call(pool)` sends."""
    recorder = Recorder()
    asyncio.run(call(recorder))
    if len(recorder.sent) != 1:
        raise AssertionError(f"expected one statement, the adapter sent {len(recorder.sent)}")
    return recorder.sent[0]


def claim_statement() -> tuple[str, dict[str, Any]]:
    """task_lease_available as PgLeaseStore sends it: one statement (a claim of more than
    CLAIM_CHUNK rows is several of them at once)."""
    return recorded(
        lambda pool: PgLeaseStore(pool)._lease(SAMPLE_WORKER, SAMPLE_LIMIT, LEASE_SECONDS)
    )


def finish_statement() -> tuple[str, dict[str, Any]]:
    """task_finish_attempts as PgLeaseStore.finish_attempts sends it for one no-op task
    that succeeded (no result, latency 1 ms): ended before its start was written, so its
    finish also writes its TaskRunning event (the Reserved -> Running move)."""
    finished = FinishedAttempt(
        task_id=SAMPLE_TASK,
        attempt_id=SAMPLE_ATTEMPT,
        outcome=outcomes.SUCCEEDED,
        result_json=None,
        usage=Usage(latency_ms=1),
        start_unwritten_ran_seconds=0.001,
    )
    return recorded(
        lambda pool: PgLeaseStore(pool).finish_attempts(
            worker_id=SAMPLE_WORKER, finished=[finished]
        )
    )


def enqueue_statement(tenant_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """task_enqueue_many as PgTaskRepository.add_many sends it for one no-op task,
    made as ours.enqueue makes them."""
    command = EnqueueTask(tenant_id=tenant_id, type=ours.TASK_TYPE, payload={})
    return recorded(lambda pool: PgTaskRepository(pool).add_many([NewTask(SAMPLE_TASK, command)]))


def literal(value: object) -> str:
    """A constant as typed SQL text; the statement's own casts do the rest."""
    if value is None:
        return "NULL::text"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return f"{value!r}::float8" if isinstance(value, float) else f"{value}::numeric"
    if isinstance(value, str | uuid.UUID):
        return "'" + str(value).replace("'", "''") + "'::text"
    raise TypeError(f"no SQL literal for {value!r}")


def pgbench_parameters(params: Mapping[str, Any]) -> dict[str, str]:
    """Each parameter the engine sends for one claim or one finished task, as pgbench SQL:
    the sample worker, limit, task and attempt become this client's worker id, :batch
    and the leases it holds (pgbench_claimed); every other value is a constant,
    repeated once per lease where the engine sends one per task."""
    count = "(SELECT count(*)::integer FROM pgbench_claimed)"
    rendered: dict[str, str] = {}
    for name, value in params.items():
        if value == SAMPLE_WORKER:
            rendered[name] = WORKER_ID
        elif value == SAMPLE_LIMIT:
            rendered[name] = ":batch"
        elif isinstance(value, list) and len(value) == 1:  # one array per column
            [element] = value
            if element == SAMPLE_TASK:
                rendered[name] = "ARRAY(SELECT id FROM pgbench_claimed ORDER BY id)"
            elif element == SAMPLE_ATTEMPT:
                rendered[name] = "ARRAY(SELECT attempt_id FROM pgbench_claimed ORDER BY id)"
            else:
                rendered[name] = f"array_fill({literal(element)}, ARRAY[{count}])"
        elif isinstance(value, Jsonb) and isinstance(value.obj, list) and len(value.obj) == 1:
            [record] = value.obj  # one JSON array of records
            if not isinstance(record, dict):
                raise TypeError(f"{name}: a JSON array of {type(record).__name__}, not objects")
            pairs = [f"'{key}', id" for key, v in record.items() if v == str(SAMPLE_TASK)]
            pairs += [f"'{key}', attempt_id" for key, v in record.items() if v == SAMPLE_ATTEMPT]
            constants = {
                key: v for key, v in record.items() if v != str(SAMPLE_TASK) and v != SAMPLE_ATTEMPT
            }
            if len(pairs) != 2:
                raise ValueError(f"{name}: no task id and attempt id in {record}")
            element = (
                f"jsonb_build_object({', '.join(pairs)}) || {literal(json.dumps(constants))}::jsonb"
            )
            rendered[name] = (
                f"(SELECT coalesce(jsonb_agg({element} ORDER BY id), '[]'::jsonb) "
                "FROM pgbench_claimed)"
            )
        elif isinstance(value, int | float | Decimal | str) or value is None:
            rendered[name] = literal(value)
        else:
            raise TypeError(f"the ceiling cannot render parameter {name} = {value!r}")
    return rendered


def ours_script() -> str:
    """pgbench/ours_claim_finish.sql with the engine's current claim and finish."""
    claim_sql, claim_params = claim_statement()
    claim = fill_placeholders(
        claim_sql, pgbench_parameters(claim_params), name="task_lease_available", for_pgbench=True
    )
    finish_sql, finish_params = finish_statement()
    finish = fill_placeholders(
        finish_sql,
        pgbench_parameters(finish_params),
        name="task_finish_attempts",
        for_pgbench=True,
    )
    # The template puts its own CTE (the leases this client holds) in front of the finish.
    after_with = re.sub(r"^WITH\s+", "", finish, count=1, flags=re.IGNORECASE)
    if after_with == finish or re.match(r"RECURSIVE\b", after_with, re.IGNORECASE):
        raise ValueError("task_finish_attempts no longer starts with WITH; adapt the template")
    template = string.Template((SCRIPTS / "ours_claim_finish.sql").read_text())
    script = strip_comments(
        template.substitute(
            task_lease_available=claim,
            worker_id=WORKER_ID,
            task_finish_attempts_after_with=after_with,
        )
    )
    check_pgbench_variables(script)
    return script.strip() + "\n"


def worker_session_options() -> str:
    """PGOPTIONS for the settings every worker session makes (session_prefer_index_scans)."""
    sql = strip_comments(query("session_prefer_index_scans"))
    setting = r"set_config\('(\w+)',\s*'(\w+)',\s*false\)"
    rest = re.sub(setting, "", sql)
    if re.sub(r"[\s,;]", "", rest).upper() != "SELECT" or not re.findall(setting, sql):
        raise ValueError(f"session_prefer_index_scans changed shape; adapt the ceiling:\n{sql}")
    return " ".join(f"-c {name}={value}" for name, value in re.findall(setting, sql))


# -- filling the queues ------------------------------------------------------------------

MINIMAL = parse_queries((SCRIPTS / "minimal_queue.sql").read_text(), "minimal_queue.sql")


def fill_minimal(dsn: str, rows: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(MINIMAL["minimal_queue_create"].text)
        conn.execute(MINIMAL["minimal_queue_fill"].text, {"rows": rows})


def chunk_parameters(params: Mapping[str, Any], ids: list[uuid.UUID]) -> dict[str, Any]:
    """The one-task enqueue parameters made into `len(ids)` tasks with these ids."""
    size = len(ids)
    chunk: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, list) and len(value) == 1:
            chunk[name] = ids if value[0] == SAMPLE_TASK else value * size
        elif isinstance(value, Jsonb) and isinstance(value.obj, list) and len(value.obj) == 1:
            [record] = value.obj
            chunk[name] = Jsonb(
                [
                    {k: str(i) if v == str(SAMPLE_TASK) else v for k, v in record.items()}
                    for i in ids
                ]
            )
        else:
            raise TypeError(f"the ceiling cannot enqueue with parameter {name} = {value!r}")
    if not any(v is ids for v in chunk.values()) and not any(
        isinstance(v, Jsonb) for v in chunk.values()
    ):
        raise ValueError("the enqueue parameters carry no task id")
    return chunk


def fill_ours(dsn: str, rows: int) -> None:
    """Install our schema and enqueue `rows` no-op tasks: the statement and parameters
    PgTaskRepository.add_many sends (TaskQueued events and outbox rows included), one
    statement of 1 000 UUIDv7 tasks per transaction like ours.enqueue, without its
    per-task Python, which is slower than the runs it would feed."""
    asyncio.run(ours.install(dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query("tenant_ensure"), {"name": "bench"}).fetchone()
        assert row is not None
        sql, params = enqueue_statement(row[0])
        for start in range(0, rows, ENQUEUE_CHUNK):
            ids = [new_task_id() for _ in range(min(ENQUEUE_CHUNK, rows - start))]
            conn.execute(sql, chunk_parameters(params, ids))


def settle(dsn: str) -> None:
    """Same start for every run: fresh statistics and visibility map, no checkpoint due."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


# -- counting and checking ------------------------------------------------------------------


def count_minimal(dsn: str, queued: int) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 1), count(*) FROM minimal_queue"
        ).fetchone()
    assert row is not None
    done, total = row
    if total != queued:
        raise AssertionError(f"minimal queue holds {total} rows, not {queued}")
    return int(done)


def count_ours(dsn: str, queued: int) -> int:
    """Tasks that succeeded, after checking each has its attempt, its TaskRunning and
    TaskSucceeded events and their outbox messages, and that no lease was left open."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM tasks),
                      (SELECT count(*) FROM tasks WHERE status = 'Succeeded'),
                      (SELECT count(*) FROM tasks WHERE status = 'Queued'),
                      (SELECT count(*) FROM task_attempts),
                      (SELECT count(*) FROM tasks t
                        WHERE t.status = 'Succeeded'
                          AND t.attempt_count = 1 AND t.finished_at IS NOT NULL
                          AND EXISTS (SELECT 1 FROM task_attempts a
                                       WHERE a.task_id = t.id AND a.status = 'Succeeded'
                                         AND a.attempt_no = 1 AND a.worker_id LIKE 'pgbench-%')),
                      (SELECT count(*) FROM task_events WHERE event_type = 'TaskQueued'),
                      (SELECT count(*) FROM task_events WHERE event_type = 'TaskRunning'),
                      (SELECT count(*) FROM task_events WHERE event_type = 'TaskSucceeded'),
                      (SELECT count(*) FROM task_events),
                      (SELECT coalesce(sum(jsonb_array_length(message -> 'events')), 0)
                         FROM pgmq.q_outbox)"""
        ).fetchone()
    assert row is not None
    total, succeeded, waiting, attempts, complete, *events, all_events, outbox = row
    done = int(succeeded)
    expected = (queued, done, queued - done, done, done, queued, done, done, queued + 2 * done)
    got = (total, succeeded, waiting, attempts, complete, *events, all_events)
    if got != expected or outbox != all_events:
        raise AssertionError(
            "our schema after pgbench: (tasks, succeeded, queued, attempts, complete, "
            "TaskQueued, TaskRunning, TaskSucceeded, events) = "
            f"{got}, not {expected}; outbox {outbox}"
        )
    return done


# -- running pgbench ----------------------------------------------------------------------

_PROCESSED = re.compile(r"number of transactions actually processed: (\d+)")
_FAILED = re.compile(r"number of failed transactions: (\d+)")
_TPS = re.compile(r"tps = ([\d.]+) \((?:without initial connection time|excluding connections)")
_LATENCY = re.compile(r"latency average = ([\d.]+) ms")
_STATEMENT = re.compile(r"^\s+([\d.]+)\s+\d+\s+\S", re.MULTILINE)  # latency, failures, SQL


def pgbench(dsn: str, script: Path, batch: int, seconds: int, options: str = "") -> Pgbench:
    env = dict(os.environ)
    if options:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} {options}".strip()
    command = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        "--report-per-command",
        f"--client={CLIENTS}",
        f"--jobs={JOBS}",
        f"--time={seconds}",
        f"--define=batch={batch}",
        f"--file={script}",
        dsn,
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=seconds + 120, check=False
    )
    wall = time.monotonic() - started
    output = done.stdout + done.stderr
    processed, tps, failed = _PROCESSED.search(output), _TPS.search(output), _FAILED.search(output)
    if done.returncode != 0 or not processed or not tps or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed ({done.returncode}): {' '.join(command)}\n{output}")
    latency = _LATENCY.search(output)
    per_command = output.split("statement latencies in milliseconds", 1)[-1]
    return Pgbench(
        transactions=int(processed.group(1)),
        tps=float(tps.group(1)),
        latency_ms=float(latency.group(1)) if latency else math.nan,
        wall_seconds=wall,
        statement_ms=tuple(float(ms) for ms in _STATEMENT.findall(per_command)),
    )


def run_once(variant: Variant, queued: int, seconds: int) -> CeilingRun:
    """One pgbench run of `variant` on a fresh database holding `queued` tasks."""
    began = time.monotonic()
    with scratch_database(f"ceiling_{variant.family}") as dsn, tempfile.TemporaryDirectory() as tmp:
        if variant.family == "minimal":
            script, options = SCRIPTS / "minimal_claim_complete.sql", ""
            fill_minimal(dsn, queued)
        else:
            script, options = Path(tmp) / "ours_claim_finish.sql", worker_session_options()
            script.write_text(ours_script())
            fill_ours(dsn, queued)
        settle(dsn)
        setup = time.monotonic() - began
        result = pgbench(dsn, script, variant.batch, seconds, options)
        count = count_minimal if variant.family == "minimal" else count_ours
        done = count(dsn, queued)
    run = CeilingRun(variant, queued, done, result, setup)
    # Every claim of a queue that is not dry takes a full batch: pgbench's count agrees.
    if not run.ran_dry and done != result.transactions * variant.batch:
        raise AssertionError(
            f"{variant.key}: {done} tasks done, but pgbench ran {result.transactions} "
            f"transactions of {variant.batch}"
        )
    return run


def queue_size(variant: Variant, expected_rate: float, seconds: int) -> int:
    """Enough tasks that the run never runs out, with headroom for a faster run."""
    rows = expected_rate * seconds * HEADROOM[variant.family] + 4 * CLIENTS * variant.batch
    return max(1000, math.ceil(rows / 1000) * 1000)


def measure(variant: Variant, expected: dict[Variant, float], seconds: int) -> CeilingRun:
    """One run of `variant`; a queue that ran dry is made bigger and the run repeated."""
    for _ in range(MAX_TRIES):
        run = run_once(variant, queue_size(variant, expected[variant], seconds), seconds)
        expected[variant] = max(expected[variant], run.rate)
        if not run.ran_dry:
            return run
        expected[variant] *= 3
        print(f"    ceiling {variant.key}: ran dry at {run.queued:,} tasks; again, bigger")
    raise RuntimeError(f"{variant.key}: the queue ran dry {MAX_TRIES} times")


def describe(run: CeilingRun) -> str:
    """One run as a line of the log."""
    statements = ", ".join(f"{name} {ms:.2f}" for name, ms in statement_latencies(run).items())
    return (
        f"{run.rate:,.0f} tasks/s ({run.done:,} of {run.queued:,} tasks in "
        f"{run.pgbench.seconds:.1f} s; pgbench {run.pgbench.tps:,.0f} tps x {run.variant.batch}; "
        f"ms per statement: {statements}; set up in {run.setup_seconds:.1f} s)"
    )


def statement_latencies(run: CeilingRun) -> dict[str, float]:
    """pgbench's mean latency of each statement, by name."""
    names = STATEMENTS[run.variant.family]
    measured = run.pgbench.statement_ms
    if len(measured) != len(names):
        return {f"statement {n + 1}": ms for n, ms in enumerate(measured)}
    return dict(zip(names, measured, strict=True))


def variant_data(
    variant: Variant, runs: list[CeilingRun], summary: Summary, seconds: int
) -> dict[str, Any]:
    """What report.data["ceiling"][variant.key] holds: the summary and every run."""
    latencies = [statement_latencies(r) for r in runs]
    return summary.as_dict() | {
        "family": variant.family,
        "batch": variant.batch,
        "rates": [round(r.rate, 1) for r in runs],
        "tasks_done": [r.done for r in runs],
        "tasks_queued": [r.queued for r in runs],
        "pgbench_tps": [r.pgbench.tps for r in runs],
        "latency_ms": [r.pgbench.latency_ms for r in runs],
        "statement_ms": {
            name: statistics.median(run[name] for run in latencies) for name in latencies[0]
        },
        "seconds": seconds,
        "clients": CLIENTS,
        "jobs": JOBS,
        "protocol": "prepared",
        "transactions_per_iteration": TRANSACTIONS[variant.family],
    }


def run(report: Report, quick: bool) -> None:
    """Each variant once (quick, 2 s) or twice (6 s), alternating variants."""
    if shutil.which("pgbench") is None:
        raise RuntimeError("pgbench is not on PATH (it comes with the PostgreSQL client)")
    seconds, repeats = (2, 1) if quick else (6, 2)
    variants = [Variant(family, batch) for family in FAMILIES for batch in BATCHES]
    expected = {v: FIRST_GUESS[(v.family, v.batch)] for v in variants}
    runs: dict[Variant, list[CeilingRun]] = {v: [] for v in variants}
    for round_no in range(repeats):
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            one = measure(variant, expected, seconds)
            runs[variant].append(one)
            print(f"    ceiling {variant.key}: {describe(one)}", flush=True)

    data: dict[str, Any] = {}
    medians: dict[Variant, float] = {}
    for variant in variants:
        summary = Summary.of([r.rate for r in runs[variant]])
        medians[variant] = summary.median
        data[variant.key] = variant_data(variant, runs[variant], summary, seconds)
        spread = (
            f" ({fmt_rate(summary.low)} to {fmt_rate(summary.high)} over {summary.runs} runs)"
            if summary.runs > 1
            else ""
        )
        report.add(
            SECTION,
            f"{variant.label}: tasks/s (pgbench -c {CLIENTS} -j {JOBS}, {seconds} s)",
            f"{fmt_rate(summary.median)}{spread}",
        )
    for batch in BATCHES:
        bare, full = medians[Variant("minimal", batch)], medians[Variant("ours", batch)]
        if bare:
            report.add(
                SECTION,
                f"our schema as a share of the minimal queue, batch {batch}",
                f"{100 * full / bare:.0f}%",
            )
    report.data["ceiling"] = data
