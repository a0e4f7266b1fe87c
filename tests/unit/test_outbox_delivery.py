"""How one outbox read is published: waves, holds, and what is settled or released."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.outbox_delivery import Delivery, Hold, OutboxEvent, OutboxMessage

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def event(event_id: int, task: str, message_id: int, *, held_behind: bool = False) -> OutboxEvent:
    return OutboxEvent(event_id, message_id, task, {"taskId": task}, held_behind)


def batch(message_id: int, *events: tuple[int, str]) -> OutboxMessage:
    return OutboxMessage(
        message_id, 1, NOW, tuple(event(i, task, message_id) for i, task in events)
    )


def held(message_id: int, event_id: int, task: str, refusals: int = 1) -> OutboxMessage:
    return OutboxMessage(
        message_id, 1, NOW, (event(event_id, task, message_id),), held=True, refusals=refusals
    )


def ids(events: list[OutboxEvent]) -> list[int]:
    return [e.id for e in events]


def test_a_wave_carries_each_task_once_so_its_next_event_waits_for_an_answer() -> None:
    delivery = Delivery([batch(1, (10, "a"), (11, "b")), batch(2, (12, "a"), (13, "c"))])
    assert ids(delivery.next_wave()) == [10, 11]
    delivery.record([10, 11], {})
    assert ids(delivery.next_wave()) == [12, 13]
    delivery.record([12, 13], {})
    assert delivery.next_wave() == []
    settlement = delivery.settlement()
    assert settlement.archive == [1, 2]
    assert settlement.published == 4
    assert settlement.is_plain


def test_a_refused_event_and_its_tasks_later_events_are_held_in_order() -> None:
    delivery = Delivery(
        [batch(1, (10, "a"), (11, "b")), batch(2, (12, "a"), (13, "b")), batch(3, (14, "a"))]
    )
    delivery.record(ids(delivery.next_wave()), {})  # 10, 11 confirmed
    wave = delivery.next_wave()
    assert ids(wave) == [12, 13]
    delivery.record([13], {12: "nack"})
    assert delivery.next_wave() == []  # a's 14 is not sent: it waits behind 12
    settlement = delivery.settlement()
    assert settlement.archive == [1, 2, 3]
    assert [(h.event.id, h.error) for h in settlement.holds] == [(12, "nack"), (14, None)]
    assert settlement.published == 3
    assert not settlement.is_plain


def test_an_event_whose_task_already_waits_is_held_without_being_sent() -> None:
    waiting = OutboxMessage(1, 1, NOW, (event(10, "a", 1, held_behind=True), event(11, "b", 1)))
    delivery = Delivery([waiting])
    assert ids(delivery.next_wave()) == [11]
    delivery.record([11], {})
    assert delivery.settlement().holds == [Hold(event(10, "a", 1, held_behind=True))]


def test_a_refused_held_message_stays_where_it_is_with_one_more_refusal() -> None:
    message = held(5, 10, "a", refusals=2)
    delivery = Delivery([message, batch(6, (11, "a"), (12, "b"))])
    assert ids(delivery.next_wave()) == [10]  # a wave ends where a task comes again
    delivery.record([], {10: "nack"})
    assert ids(delivery.next_wave()) == [12]  # a's 11 waits behind 10
    delivery.record([12], {})
    settlement = delivery.settlement()
    assert settlement.refused_held == [(message, "nack")]
    assert settlement.archive == [6]
    assert [h.event.id for h in settlement.holds] == [11]


def test_when_the_broker_goes_away_only_a_prefix_of_whole_messages_settles() -> None:
    delivery = Delivery([batch(1, (10, "a")), batch(2, (11, "b"), (12, "c")), batch(3, (13, "d"))])
    wave = delivery.next_wave()
    assert ids(wave) == [10, 11, 12, 13]
    delivery.record([10, 11, 13], {})  # 12's answer never came
    settlement = delivery.settlement()
    assert settlement.archive == [1]
    # 2 is released whole (11 goes out again: at least once), and so is 3 after it.
    assert settlement.release == [2, 3]
    assert settlement.published == 1


def test_a_held_message_whose_event_is_gone_is_set_aside() -> None:
    gone = OutboxMessage(7, 1, NOW, (), held=True, gone=True)
    empty = OutboxMessage(8, 1, NOW, ())  # a batch whose events were all pruned
    delivery = Delivery([gone, empty])
    assert delivery.next_wave() == []
    settlement = delivery.settlement()
    assert settlement.gone == [gone]
    assert settlement.archive == [8]
