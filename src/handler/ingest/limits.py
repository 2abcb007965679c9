"""The Data API's and Redshift's limits the function budgets against, each with its source.

Where no public source gives a figure, the budget is a setting with a conservative default and
the function adapts when the service refuses (writer.py splits a refused request).
"""

from __future__ import annotations

# "Cannot process query string larger than 100kB" (the Data API's ValidationException, quoted
# by users; the Data API's "Considerations" page gives 100 KB for a query). Whether parameter
# values count is undocumented: the function budgets the SQL and its parameters together.
STATEMENT_BYTES = 100_000
# PostgreSQL's wire protocol counts bind parameters in 16 bits (Bind message, Int16); Redshift
# inherits it. No AWS page gives the Data API's own figure per statement or per transaction.
PARAMETERS = 32_767
# BatchExecuteStatement's Sqls holds 1 to 40 strings (botocore's service model, SqlList).
SQLS_PER_BATCH = 40
# No public source gives a limit on a whole request (BatchExecuteStatement carries up to 40
# SQLs of 100 KB and their parameters; botocore's model bounds neither, and the 4 MiB often
# quoted belongs to the RDS Data API, another service). Redshift's own limit on one statement
# is 16 MB ("Statement is too large ... Maximum Allowed: 16777216 bytes", psycopg/psycopg2
# #1091). Unverified, so a setting (REQUEST_MAX_BYTES): 2 MiB, half the RDS figure, above the
# ~1.5 MB the template's defaults produce for AppsFlyer bodies (so the defaults keep their
# rows per commit) and well below the ~4.5 MB worst case; a size refusal of any wording
# halves it for the target (writer.py). Its cost in rows per commit: README, "Limits".
DEFAULT_REQUEST_BYTES = 2_097_152
# What one parameter entry costs in the request's JSON beside its name and value, and one SQL
# beside its text, as botocore's JSON protocol serialises them (json.dumps with its default
# separators: botocore/serialize.py), and the rest of the request (addressing, StatementName,
# ClientToken, member names), for which a fixed allowance is kept.
REQUEST_BYTES_PER_PARAMETER = len('{"name": "", "value": ""}, ')
REQUEST_BYTES_PER_SQL = len('"", ')
REQUEST_ENVELOPE_BYTES = 2_048
