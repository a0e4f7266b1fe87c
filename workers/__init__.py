"""Long-running processes: task worker, outbox relay, maintenance."""
