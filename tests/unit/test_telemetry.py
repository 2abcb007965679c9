"""Log hygiene: database errors are cut before anything they quote, DETAIL blocks and control
characters dropped, and the length bounded."""

from __future__ import annotations

import pytest

from ingest.masking import MAX_MASKED_CHARACTERS, mask


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
        ("ERROR: 1023 DETAIL: Serializable isolation violation", "ERROR: 1023 …"),
        ("numeric field overflow\nDETAIL: row 7 has 123", "numeric field overflow …"),
        ("bell\x07 and\r\nnewline\u2028sep", "bell and newline sep"),
    ],
)
def test_mask_keeps_leading_words_only(error: str, logged: str) -> None:
    assert mask(error) == logged


def test_masked_text_is_bounded() -> None:
    masked = mask("x" * 10_000)
    assert len(masked) == MAX_MASKED_CHARACTERS
    assert masked.endswith("…")
