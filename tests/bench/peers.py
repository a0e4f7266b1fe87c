"""Every configuration the drain runs, with where its settings come from.

A family is one queue (ours, PGQueuer, ...); its configurations are the settings
worth sweeping. The drain headlines each family's best configuration (highest
median), and pairs ours with it round by round. Citations are repeated in
tests/bench/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CONTENDER_MODULES = {
    "assistente": "tests.bench.contenders.ours",
    "pgqueuer": "tests.bench.contenders.pgqueuer_peer",
    "procrastinate": "tests.bench.contenders.procrastinate_peer",
    "dbos": "tests.bench.contenders.dbos_peer",
    "chancy": "tests.bench.contenders.chancy_peer",
    "oban": "tests.bench.contenders.oban_peer",
    "celery": "tests.bench.contenders.celery_peer",
}


@dataclass(frozen=True, slots=True)
class Config:
    """One configuration of one family."""

    family: str
    name: str  # short, unique within the family: "batch=110, pool"
    sets: tuple[str, ...] = ()
    # The most tasks one claim statement can carry, when the setting fixes it.
    claim_limit: int | None = None
    # Slow peers drain fewer tasks so a run stays under a minute.
    tasks: int | None = None

    @property
    def key(self) -> str:
        return f"{self.family} [{self.name}]"

    @property
    def module(self) -> str:
        return CONTENDER_MODULES[self.family]


OURS = Config("assistente", "defaults", claim_limit=110)
OURS_CLAIM_10 = Config("assistente", "WORKER_PREFETCH=0", ("prefetch=0",), claim_limit=10)

PGQUEUER = tuple(
    Config(
        "pgqueuer", f"batch={batch}, {driver}", (f"batch_size={batch}", f"driver={driver}"), batch
    )
    for driver in ("connection", "pool")
    for batch in (10, 50, 100, 200)
)

# Ours claims up to concurrency + batch ahead (110); PGQueuer exactly batch_size.
EQUAL_CLAIM_PAIRS = (
    (OURS_CLAIM_10, next(c for c in PGQUEUER if c.name == "batch=10, connection")),
    (OURS, next(c for c in PGQUEUER if c.name == "batch=100, connection")),
)

PROCRASTINATE = (Config("procrastinate", "defaults", claim_limit=1, tasks=10_000),)

# DBOS dequeues once per polling interval, at most worker_concurrency (10) workflows, so
# its default (1 s) drains about 10 a second: each interval gets an N it finishes in
# about 30 s or less.
DBOS = tuple(
    Config("dbos", name, (f"polling_interval={interval}",), claim_limit=10, tasks=tasks)
    for name, interval, tasks in (
        ("polling_interval=1.0 (default)", 1.0, 100),
        ("polling_interval=0.1", 0.1, 1_000),
        ("polling_interval=0.01", 0.01, 5_000),
        ("polling_interval=0.001", 0.001, 5_000),
    )
)

# Chancy's default poll (5 s, no eager polling) drains about 2 jobs a second; not run.
CHANCY = (
    Config(
        "chancy",
        "async executor, eager_polling",
        ("eager_polling=true", "polling_interval=1"),
        claim_limit=10,
        tasks=10_000,
    ),
)

OBAN = tuple(
    Config("oban", name, (f"debounce_interval={debounce}",), claim_limit=10, tasks=10_000)
    for name, debounce in (
        ("debounce_interval=0.001", 0.001),
        ("debounce_interval=0.005 (default)", 0.005),
    )
)

CELERY = (
    *(
        Config(
            "celery",
            f"{pool}, prefetch_multiplier={prefetch}, no results",
            (f"pool={pool}", f"prefetch_multiplier={prefetch}", "results=none"),
            tasks=10_000,
        )
        for pool, prefetch in (("prefork", 128), ("threads", 4), ("threads", 128))
    ),
    # The database result backend opens a connection per result (see celery_peer.py).
    Config(
        "celery",
        "prefork, prefetch_multiplier=128, Postgres results",
        ("pool=prefork", "prefetch_multiplier=128", "results=postgres"),
        tasks=500,
    ),
)

# The quick set runs one configuration per new peer, each at its best measured
# setting, on fewer tasks (the report names the count).
QUICK_NEW_PEERS = (
    replace(DBOS[-1], tasks=2_000),
    replace(CHANCY[0], tasks=5_000),
    replace(OBAN[1], tasks=5_000),
    replace(
        next(c for c in CELERY if c.name.startswith("threads, prefetch_multiplier=128")),
        tasks=5_000,
    ),
)


def _runnable(configs: list[Config]) -> list[Config]:
    """Oban needs Python >= 3.12; leave it out, saying so, where none can be found."""
    if any(c.family == "oban" for c in configs):
        from tests.bench.contenders import oban_peer

        if oban_peer.python() is None:
            print("  (Oban left out: it needs Python >= 3.12; set BENCH_OBAN_PYTHON)", flush=True)
            return [c for c in configs if c.family != "oban"]
    return configs


def drain_configs(quick: bool) -> list[Config]:
    """What the 1-worker drain runs: ours, its equal-claim twin, and every peer."""
    if quick:
        # batch 10 and 100 for the equal-claim pairs; 200 is PGQueuer's best in the full
        # run of 2026-12-03 (docs/benchmarks), so CI prints the headline against it.
        quick_names = ("batch=10, connection", "batch=100, connection", "batch=200, connection")
        pgq = [c for c in PGQUEUER if c.name in quick_names]
        return _runnable([OURS, OURS_CLAIM_10, *pgq, *QUICK_NEW_PEERS])
    return _runnable(
        [OURS, OURS_CLAIM_10, *PGQUEUER, *PROCRASTINATE, *DBOS, *CHANCY, *OBAN, *CELERY]
    )
