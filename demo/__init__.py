"""Dev-only: `make demo` replays events/*.json through the real handler on the local stack."""
