"""The tenant stream's cursor: a late-committing event is sent, and resuming never skips it."""

from __future__ import annotations

from app.domain.event_cursor import StreamCursor


def test_a_read_with_no_transaction_in_flight_is_final_at_once() -> None:
    cursor = StreamCursor(final=0)
    assert cursor.take([1, 2, 3], snapshot_xmin=100, snapshot_xmax=100, page_full=False) == [
        1,
        2,
        3,
    ]
    assert cursor.final == 3 and not cursor.settling


def test_an_event_committed_after_a_later_numbered_one_is_still_sent() -> None:
    cursor = StreamCursor(final=0)
    # Event 1 belongs to a transaction still open (xid 100); event 2 committed.
    assert cursor.take([2], snapshot_xmin=100, snapshot_xmax=101, page_full=False) == [2]
    assert cursor.final == 0  # 1 may still come: resuming must start below it
    assert cursor.settling
    # The slow transaction commits: the next read sees 1 (2 again, not re-sent).
    assert cursor.take([1, 2], snapshot_xmin=101, snapshot_xmax=101, page_full=False) == [1]
    assert cursor.final == 2 and not cursor.settling


def test_the_resume_point_waits_for_every_transaction_open_at_the_read() -> None:
    cursor = StreamCursor(final=10)
    cursor.take([12], snapshot_xmin=90, snapshot_xmax=95, page_full=False)
    cursor.take([12, 13], snapshot_xmin=94, snapshot_xmax=97, page_full=False)
    assert cursor.final == 10  # transaction 94 may hold event 11
    cursor.take([12, 13], snapshot_xmin=95, snapshot_xmax=97, page_full=False)
    assert cursor.final == 12  # what the first read saw is settled; 13's read is not
    cursor.take([13], snapshot_xmin=97, snapshot_xmax=97, page_full=False)
    assert cursor.final == 13


def test_a_full_page_never_moves_the_resume_point_past_what_was_read() -> None:
    cursor = StreamCursor(final=0)
    cursor.take([5, 6], snapshot_xmin=50, snapshot_xmax=60, page_full=False)
    # A later read at its limit stops at 4, below the settled frontier 6.
    cursor.take([3, 4], snapshot_xmin=60, snapshot_xmax=60, page_full=True)
    assert cursor.final == 0
    cursor.take([7], snapshot_xmin=60, snapshot_xmax=60, page_full=False)
    assert cursor.final == 7


def test_a_rolled_back_transaction_leaves_a_gap_that_settles() -> None:
    cursor = StreamCursor(final=0)
    cursor.take([2], snapshot_xmin=100, snapshot_xmax=101, page_full=False)
    # Transaction 100 rolled back: event 1 never appears, and the cursor moves on.
    assert cursor.take([2], snapshot_xmin=102, snapshot_xmax=102, page_full=False) == []
    assert cursor.final == 2
