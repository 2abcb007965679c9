"""The settle rules as a table: what becomes of a record given each target's answer."""

from __future__ import annotations

import pytest

from ingest.fates import HELD as HELD_FATE
from ingest.fates import TOO_LARGE, WRITTEN, Fate, FateKind, TargetOutcome
from ingest.records import Reason
from ingest.settle import HandBack, Letter, Owed, settle

TARGETS = ("primary", "secondary")


def row(owed: frozenset[str] | None = None) -> Owed:
    return Owed("m", owed)


WROTE = "wrote"
HELD = "held"
REJECTED = "rejected"
RETURNED = "returned"
OVERSIZED = "oversized"


FATES = {
    WROTE: WRITTEN,
    HELD: HELD_FATE,
    REJECTED: Fate(
        FateKind.REFUSED_BY_DATABASE, "value too long for type character varying(10)", "s-0"
    ),
    OVERSIZED: TOO_LARGE,
    RETURNED: Fate(FateKind.RETURNED, "throttled", "s-1"),
}


def answer(target: str, what: str) -> TargetOutcome:
    return TargetOutcome(target, {"m": FATES[what]})


@pytest.mark.parametrize(
    ("primary", "secondary", "expected"),
    [
        (WROTE, WROTE, None),
        (WROTE, HELD, None),
        (HELD, HELD, None),
        (WROTE, RETURNED, HandBack("m", "throttled", "secondary", "s-1")),
        (RETURNED, WROTE, HandBack("m", "throttled", "primary", "s-1")),
        # A retry wins over a rejection: the record comes back, and the rejection repeats then.
        (REJECTED, RETURNED, HandBack("m", "throttled", "secondary", "s-1")),
        (
            WROTE,
            REJECTED,
            Letter(
                "m",
                Reason.REJECTED_BY_DATABASE,
                "value too long for type character varying(10)",
                ("secondary",),
            ),
        ),
        (
            REJECTED,
            REJECTED,
            Letter(
                "m",
                Reason.REJECTED_BY_DATABASE,
                "value too long for type character varying(10)",
                ("primary", "secondary"),
            ),
        ),
        (
            OVERSIZED,
            OVERSIZED,
            Letter(
                "m",
                Reason.RECORD_TOO_LARGE,
                "record alone exceeds the statement size budget (STATEMENT_MAX_BYTES)",
                ("primary", "secondary"),
            ),
        ),
    ],
)
def test_settle(primary: str, secondary: str, expected: Letter | HandBack | None) -> None:
    settled = settle([row()], [answer("primary", primary), answer("secondary", secondary)], TARGETS)
    decisions = [*settled.letters, *settled.handed_back]
    assert decisions == ([] if expected is None else [expected])


def test_record_owed_to_one_target_is_done_when_that_target_holds_it() -> None:
    settled = settle([row(frozenset({"secondary"}))], [answer("secondary", WROTE)], TARGETS)
    assert (settled.letters, settled.handed_back) == ((), ())


def test_record_owed_a_target_that_gave_no_answer_comes_back() -> None:
    settled = settle([row()], [answer("primary", WROTE)], TARGETS)
    assert settled.handed_back == (HandBack("m", "no outcome from the target", "secondary"),)


def test_redrive_naming_a_different_record_is_a_letter_never_skipped_as_held() -> None:
    impostor = TargetOutcome("primary", {"m": Fate(FateKind.IMPOSTOR)})
    settled = settle([row()], [impostor, answer("secondary", WROTE)], TARGETS)
    assert settled.letters == (
        Letter(
            "m",
            Reason.INVALID_REDRIVE,
            "original_message_id names a different record in primary",
            ("primary",),
        ),
    )


def test_a_record_one_table_refuses_is_a_letter_for_that_target_only() -> None:
    # Given tables that differ: the primary's rules refuse the record, the secondary wrote it
    refused = TargetOutcome(
        "primary",
        {
            "m": Fate(
                FateKind.REFUSED_BY_TABLE, "quantity is out of range", rule=Reason.INVALID_NUMBER
            )
        },
    )
    # When settled
    settled = settle([row()], [refused, answer("secondary", WROTE)], TARGETS)
    # Then it is a letter with the primary's reason, owed to the primary alone
    assert settled.letters == (
        Letter("m", Reason.INVALID_NUMBER, "quantity is out of range", ("primary",)),
    )
    assert settled.handed_back == ()


# ---- the source queue's last receive (SOURCE_MAX_RECEIVE_COUNT) -------------------------------


@pytest.mark.parametrize(
    ("receive_count", "expected"),
    [
        (9, HandBack("m", "throttled", "secondary", "s-1")),
        # On its last receive the function dead-letters it itself, naming the target that
        # lacks it: SQS would move it without a reason or failed_targets, and a redrive would
        # write it again to the primary that holds it.
        (
            10,
            Letter(
                "m",
                Reason.RECEIVES_EXHAUSTED,
                "still failing on receive 10 of 10 (secondary): throttled",
                ("secondary",),
            ),
        ),
        (
            11,
            Letter(
                "m",
                Reason.RECEIVES_EXHAUSTED,
                "still failing on receive 11 of 10 (secondary): throttled",
                ("secondary",),
            ),
        ),
    ],
)
def test_a_record_still_failing_on_its_last_receive_is_a_letter_for_the_lacking_targets(
    receive_count: int, expected: Letter | HandBack
) -> None:
    outcomes = [answer("primary", WROTE), answer("secondary", RETURNED)]
    settled = settle([Owed("m", None, receive_count)], outcomes, TARGETS, 10)
    assert [*settled.letters, *settled.handed_back] == [expected]


def test_without_a_known_receive_limit_a_failing_record_always_comes_back() -> None:
    outcomes = [answer("primary", RETURNED), answer("secondary", RETURNED)]
    settled = settle([Owed("m", None, 1_000)], outcomes, TARGETS)
    assert settled.handed_back
    assert not settled.letters
