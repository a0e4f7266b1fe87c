"""How many tasks a worker claims ahead of its free slots. Pure: the worker feeds it
task durations and asks for a size.

While tasks are short (milliseconds) a worker holds about AHEAD_SECONDS of work
beyond its free slots (at least one per slot), so the next tasks are at hand when
slots free instead of a claim's round trip later. While they are long it holds only
the work that ends within AHEAD_SECONDS, which is none for tasks of seconds: a held
task is one another worker with a free slot could have started.
"""

from __future__ import annotations

# Tasks are "long" once they take this on average (or one runs this long), and
# "short" again below half of it: the gap keeps a mix near the line from flapping.
SHORT_TASK_SECONDS = 0.05
# Work held ahead while tasks are short: at least `concurrency` tasks, at most MAX.
AHEAD_SECONDS = 0.02
MAX_PREFETCH = 100
# Weight of the newest duration in the running average.
DURATION_SMOOTHING = 0.05
# An ended task counts as at most this many times the average: one task stretched by a
# stalled process (a busy machine) must not make millisecond work look long. Work that
# really turns long shows within a few tasks, and at once through tasks still running.
OUTLIER_FACTOR = 10.0


class BatchAhead:
    """A running average of task durations, and the batch it calls for."""

    def __init__(self, concurrency: int, fixed: int | None = None) -> None:
        self.concurrency = concurrency
        # A size set by the operator (WORKER_PREFETCH) wins over the adaptive one.
        self.fixed = fixed
        self.average_seconds: float | None = None
        self.tasks_are_short = False

    def size(self) -> int:
        """Tasks to hold beyond the free slots now."""
        if self.fixed is not None:
            return self.fixed
        average = self.average_seconds
        if average is None:
            return 0
        ahead = int(self.concurrency * AHEAD_SECONDS / max(average, 1e-6))
        if not self.tasks_are_short:
            # Only the work that ends during about one claim: nothing for tasks of
            # seconds, a few for many slots of tenths of a second (their slots would
            # otherwise stand empty while each claim runs).
            return min(MAX_PREFETCH, ahead)
        return min(MAX_PREFETCH, max(self.concurrency, ahead))

    def observe(self, seconds: float, *, still_running: bool = False) -> bool:
        """Fold in a task's duration; True when tasks have just turned long (what is
        held ahead should then go back to the queue).

        A task still running counts at once (its time so far is a lower bound), so
        long work shows before it ends.
        """
        average = self.average_seconds
        if still_running:
            if average is not None and seconds <= average:
                return False
            self.average_seconds = seconds
        elif average is None:
            self.average_seconds = seconds
        else:
            seconds = min(seconds, OUTLIER_FACTOR * average)
            self.average_seconds = average + DURATION_SMOOTHING * (seconds - average)
        was_short = self.tasks_are_short
        if self.average_seconds >= SHORT_TASK_SECONDS:
            self.tasks_are_short = False
        elif self.average_seconds < SHORT_TASK_SECONDS / 2:
            self.tasks_are_short = True
        return was_short and not self.tasks_are_short

    def is_long(self, running_seconds: float) -> bool:
        """Whether a task running this long makes the work long already."""
        return running_seconds >= SHORT_TASK_SECONDS
