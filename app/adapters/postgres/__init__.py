"""Postgres adapters: pool, named queries, migrator, repositories."""
