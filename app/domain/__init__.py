"""The pure core: task states, value objects and rules. No I/O lives here."""
