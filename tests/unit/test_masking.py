"""Error texts made safe to log: never a quoted value, bounded to a fixed number of characters."""

from __future__ import annotations

from ingest.masking import MAX_MASKED_CHARACTERS, mask


def test_text_of_exactly_the_limit_is_kept_whole() -> None:
    text = "e" * MAX_MASKED_CHARACTERS
    assert mask(text) == text


def test_text_over_the_limit_is_cut_to_the_limit_with_an_ellipsis() -> None:
    masked = mask("e" * (MAX_MASKED_CHARACTERS + 1))
    assert masked == "e" * (MAX_MASKED_CHARACTERS - 1) + "…"
    assert len(masked) == MAX_MASKED_CHARACTERS


def test_quoted_values_and_detail_blocks_are_dropped() -> None:
    error = 'ERROR: invalid input syntax for type timestamp: "2024-99-99" DETAIL: Key (id)=(42)'
    assert mask(error) == "ERROR: invalid input syntax for type timestamp: …"
    assert mask("value too long\nDETAIL: row (secret)") == "value too long …"
