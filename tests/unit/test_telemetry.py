"""Log hygiene: database errors are cut before anything they quote."""

from __future__ import annotations

import pytest

from ingest.telemetry import redact


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (
            'invalid input syntax for type timestamp: "2024-99-99"',
            "invalid input syntax for type timestamp: …",
        ),
        ('numeric: "12" secret-ssn 123-45-6789"', "numeric: …"),
        ("Value 'O'Brien secret'", "Value …"),
        (
            "value too long for type character varying(10)",
            "value too long for type character varying(10)",
        ),
        ("relation `x` does not exist", "relation …"),
    ],
)
def test_redact_keeps_leading_words_only(error: str, logged: str) -> None:
    assert redact(error) == logged
