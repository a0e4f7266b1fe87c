"""Every configuration the drain runs, with where its settings come from.

A family is one queue (ours, PGQueuer, ...); its configurations are the settings
worth sweeping. The drain headlines each family's best configuration (highest
median), and pairs ours with it round by round. Citations are repeated in
tests/bench/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTENDER_MODULES = {
    "assistente": "tests.bench.contenders.ours",
    "pgqueuer": "tests.bench.contenders.pgqueuer_peer",
    "procrastinate": "tests.bench.contenders.procrastinate_peer",
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


def drain_configs(quick: bool) -> list[Config]:
    """What the 1-worker drain runs: ours, its equal-claim twin, and every peer."""
    if quick:
        pgq = [c for c in PGQUEUER if c.name in ("batch=10, connection", "batch=100, connection")]
        return [OURS, OURS_CLAIM_10, *pgq, *PROCRASTINATE]
    return [OURS, OURS_CLAIM_10, *PGQUEUER, *PROCRASTINATE]
