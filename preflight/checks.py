"""Every check preflight runs, in order, and how one is run.

What is sent is the function's own: its reader turns records into rows, its renderer (with the
limits `wiring.transaction_limits` gives, the column guard first) turns rows into SQL, its
statement runner submits and waits, its probe is the control statement. What is concluded is
the function's own too: `read_failure` classifies the service's words; the probe and the guard
are judged by the failed part, as the writer judges them. Preflight only says whether each
conclusion is the right one.
"""

from __future__ import annotations

from ingest.catalog import SchemaUnavailable
from ingest.masking import mask
from ingest.statement_runner import SelectFailed
from preflight import redelivery, shapes
from preflight.context import SAID_CHARACTERS, Check, CheckResult, Context
from preflight.refusals import REFUSAL_CHECKS
from preflight.rows import ReaderRefused

CHECKS: tuple[Check, ...] = (
    Check("catalog read", shapes.catalog),  # first: every other check needs the layout
    Check("every column kind", shapes.every_kind),
    Check("DEFAULT", shapes.default),
    shapes.sqls(1),
    shapes.sqls(10),
    shapes.sqls(40),
    Check("prefix-free names", shapes.prefix_free),
    Check("most parameters", shapes.max_parameters),
    Check("largest request", shapes.request_size),
    Check("largest INSERT", shapes.statement_size),
    Check("probe", shapes.probe),
    Check("claim", redelivery.claim),
    Check("redrive compared in full", redelivery.same_record),
    *REFUSAL_CHECKS,
    Check("column guard", shapes.guard),  # last: it changes the table
)


def run_check(ctx: Context, check: Check) -> CheckResult:
    """One check; a failure of the function's own reads on the way is its MISMATCH."""
    try:
        return check.run(ctx)
    except ReaderRefused as refused:
        return CheckResult(check.label, "not sent", str(refused), ok=False)
    except (SelectFailed, SchemaUnavailable) as unread:
        said = "read failed: " + mask(str(unread), SAID_CHARACTERS)
        return CheckResult(check.label, said, "-", ok=False)
