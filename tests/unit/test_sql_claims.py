"""Rendering for claims (claim.py): room for the LOCK and the check in each transaction, and
what each SQL of a claimed transaction is."""

from __future__ import annotations

from dataclasses import replace

from ingest.claim import CLAIM_SQLS, claim_reserve
from ingest.sql import InsertRenderer, Part, Transaction
from ingest.writer import open_with_claims
from tests.unit.test_writer import renderer, rows


def small_statements(
    limits_renderer: InsertRenderer,
    statements_per_transaction: int,
    max_request_bytes: int | None = None,
) -> InsertRenderer:
    """Small INSERTs, guarded, claiming: a few rows make several INSERTs."""
    limits = replace(
        limits_renderer.limits,
        max_bytes=4_000,
        guarded=True,
        claims=True,
        statements_per_transaction=statements_per_transaction,
        max_request_bytes=max_request_bytes,
    )
    return InsertRenderer(limits_renderer.layout, limits)


def test_a_claimed_render_leaves_two_sqls_for_the_claim() -> None:
    plain = small_statements(renderer(), statements_per_transaction=5)
    batch = rows(40, receive_count=2)
    unclaimed = plain.render(batch).transactions
    claimed = plain.render(batch, claimed=True).transactions
    assert max(len(t.statements) for t in unclaimed) == 5
    assert max(len(t.statements) for t in claimed) == 5 - CLAIM_SQLS
    opened = [c for t in claimed for c in open_with_claims(t, plain.layout, lock=True)]
    assert all(len(t.sqls) <= 1 + 5 for t in opened)  # the guard, the claim, the INSERTs


def test_a_claimed_render_keeps_the_claims_bytes_free() -> None:
    batch = rows(30, receive_count=2)
    budget = 60_000
    plain = small_statements(renderer(), statements_per_transaction=39, max_request_bytes=budget)
    for transaction in plain.render(batch, claimed=True).transactions:
        assert transaction.request_bytes <= budget - claim_reserve(len(batch))
        [opened] = open_with_claims(transaction, plain.layout, lock=True)
        assert opened.request_bytes <= budget


def test_one_insert_never_gets_fewer_than_one_statement() -> None:
    plain = small_statements(renderer(), statements_per_transaction=1)
    claimed = plain.render(rows(4, receive_count=2), claimed=True).transactions
    assert all(len(t.statements) == 1 for t in claimed)


def test_parts_and_insert_indexes_of_a_claimed_transaction() -> None:
    plain = small_statements(renderer(), statements_per_transaction=5)
    [transaction] = plain.render(rows(5, receive_count=2), claimed=True).transactions
    [opened] = open_with_claims(transaction, plain.layout, lock=True)
    inserts = len(opened.statements)
    assert opened.parts == (Part.LOCK, Part.GUARD, Part.CHECK, *[Part.INSERT] * inserts)
    assert [opened.part_at(i) for i in (None, -1, 3 + inserts)] == [None, None, None]
    assert [opened.insert_index(i) for i in range(3 + inserts)] == [
        None, None, None, *range(inserts)
    ]  # fmt: skip
    [unlocked] = open_with_claims(transaction, plain.layout, lock=False)
    assert unlocked.parts[:2] == (Part.GUARD, Part.CHECK)
    assert unlocked.insert_index(2) == 0


def test_a_claim_survives_a_new_guard_but_not_new_statements() -> None:
    plain = small_statements(renderer(), statements_per_transaction=5)
    [transaction] = plain.render(rows(5, receive_count=2), claimed=True).transactions
    [opened] = open_with_claims(transaction, plain.layout, lock=True)
    unguarded = opened.with_guard(None)
    assert unguarded.claim == opened.claim
    assert unguarded.parts[:2] == (Part.LOCK, Part.CHECK)
    assert unguarded.sqls[0].startswith("LOCK ")
    regrouped = opened.with_statements(opened.statements[:1])
    assert regrouped.claim is None  # its records changed: the writer claims it anew
    assert regrouped.guard == opened.guard
    assert isinstance(regrouped, Transaction)
