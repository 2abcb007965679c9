"""Error texts made safe to log or attach: no quoted values, no control characters, bounded."""

from __future__ import annotations

import re

# Database errors can quote the offending value ('invalid input syntax for type ...: "x"'),
# and a value may itself contain quotes: everything from the first quote on is dropped.
# ASCII quotes and backticks, and the typographic ones a localised message or a proxy may use.
_FIRST_QUOTE = re.compile(r"[\"'`\u2018-\u201f\u00ab\u00bb\u2039\u203a]")
# Redshift's multi-line errors carry a DETAIL block that can echo a row ("Key (...)=(...)").
_DETAIL = re.compile(r"\s*\b(DETAIL|Detail|HINT|CONTEXT|Failing row contains)\b.*", re.DOTALL)
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # also folds runs of spaces
MAX_MASKED_CHARACTERS = 512


def mask(text: str, limit: int = MAX_MASKED_CHARACTERS) -> str:
    """Keep an error's leading words, never what it quotes (logs must not carry values)."""
    cut = _FIRST_QUOTE.search(text)
    kept = text if cut is None else text[: cut.start()] + "…"
    kept = _DETAIL.sub(" …", kept)
    kept = _CONTROL.sub(" ", kept).strip()
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"
