"""The benchmark suite (`make bench`): scripts that print figures, never collected by pytest."""
