"""Adapters: the only code that talks to Postgres, RabbitMQ, HTTP providers."""
