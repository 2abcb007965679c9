"""Developer scripts (never deployed): run them as `python -m scripts.<name>`."""
