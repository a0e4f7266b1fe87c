"""One module per queue under test. Each runs as its own process and prints one JSON line."""
