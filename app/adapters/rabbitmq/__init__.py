"""RabbitMQ adapters: the event publisher (pika, one thread, publisher confirms)."""
