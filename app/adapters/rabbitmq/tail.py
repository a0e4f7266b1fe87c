"""`assistente events tail`: bind a temporary queue and print events as they arrive."""

from __future__ import annotations

import json
from collections.abc import Callable

import pika
from pika.exchange_type import ExchangeType


def tail_events(
    amqp_url: str, exchange: str, routing_key: str, emit: Callable[[str], None]
) -> None:
    """Print one JSON line per event until interrupted (Ctrl+C)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        unroutable = f"{exchange}.unroutable"
        channel.exchange_declare(unroutable, exchange_type=ExchangeType.fanout, durable=True)  # type: ignore[arg-type]
        channel.exchange_declare(
            exchange,
            exchange_type=ExchangeType.topic,  # type: ignore[arg-type]
            durable=True,
            arguments={"alternate-exchange": unroutable},
        )
        declared = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        queue = str(declared)
        channel.queue_bind(queue, exchange, routing_key=routing_key)
        for method, properties, body in channel.consume(queue, auto_ack=True):
            event = {
                "routingKey": method.routing_key,
                "messageId": properties.message_id,
                "event": json.loads(body),
            }
            emit(json.dumps(event))
    finally:
        if connection.is_open:
            connection.close()
