"""Every service limit the function relies on, once, each with its source.

Where no public source gives a figure, the budget is a setting with a conservative default and
the function adapts when the service refuses (writer.py splits a refused request).
"""

from __future__ import annotations

# ---- the Redshift Data API -------------------------------------------------------------------

# "Cannot process query string larger than 100kB" (the Data API's ValidationException, quoted
# by users; the Data API's "Considerations" page gives 100 KB for a query). Whether parameter
# values count is undocumented: the function budgets the SQL and its parameters together.
STATEMENT_BYTES = 100_000
# BatchExecuteStatement's Sqls holds 1 to 40 strings (botocore's service model, SqlList).
SQLS_PER_BATCH = 40
# WaitTimeSeconds ("a value between 1 and 30": the Redshift Management Guide, "Reduce API calls
# with long polling", data-api-calling-considerations-long-polling.html).
WAIT_SECONDS_MAX = 30
# ListStatements' MaxResults: at most 100 per page (its service model, ListStatementsLimit).
LIST_PAGE_MAX = 100
# No public source gives a limit on a whole request (BatchExecuteStatement carries up to 40
# SQLs of 100 KB and their parameters; botocore's model bounds neither, and the 4 MiB often
# quoted belongs to the RDS Data API, another service). Unverified, so a setting
# (REQUEST_MAX_BYTES): 2 MiB, half the RDS figure, above the ~1.5 MB the template's defaults
# produce for AppsFlyer bodies (so the defaults keep their rows per commit) and well below the
# ~4.5 MB worst case; a size refusal of any wording halves it for the target (writer.py). Its
# cost in rows per commit: README, "Limits".
DEFAULT_REQUEST_BYTES = 2_097_152
# What one parameter entry costs in the request's JSON beside its name and value, and one SQL
# beside its text, as botocore's JSON protocol serialises them (json.dumps with its default
# separators: botocore/serialize.py), and the rest of the request (addressing, StatementName,
# ClientToken, member names), for which a fixed allowance is kept.
REQUEST_BYTES_PER_PARAMETER = len('{"name": "", "value": ""}, ')
REQUEST_BYTES_PER_SQL = len('"", ')
REQUEST_ENVELOPE_BYTES = 2_048

# ---- Redshift ---------------------------------------------------------------------------------

# PostgreSQL's wire protocol counts bind parameters in 16 bits (Bind message, Int16); Redshift
# inherits it. No AWS page gives the Data API's own figure per statement or per transaction.
PARAMETERS = 32_767
# Redshift's own limit on one statement: 16 MB ("Statement is too large ... Maximum Allowed:
# 16777216 bytes", psycopg/psycopg2#1091); the highest REQUEST_MAX_BYTES accepted.
REDSHIFT_STATEMENT_BYTES = 16_777_216
# "Columns: 1,600 per table" (Redshift Management Guide, "Quotas and limits in Amazon Redshift").
COLUMNS_PER_TABLE = 1_600
# Identifiers are at most 127 bytes (Redshift Database Developer Guide, "Names and identifiers").
IDENTIFIER_BYTES = 127
# SUPER (Redshift Database Developer Guide, "Limitations" of the SUPER type): nesting of arrays
# and objects at most 1,000 deep; a string value at most 65,535 bytes (the VARCHAR maximum;
# newer pages allow more, the conservative figure holds on every release).
SUPER_MAX_DEPTH = 1_000
SUPER_MAX_STRING_BYTES = 65_535

# ---- Amazon SQS -------------------------------------------------------------------------------

# SendMessageBatch and DeleteMessageBatch take up to 10 entries, and one SendMessageBatch's
# messages total at most 1,048,576 bytes (SQS Developer Guide, "Amazon SQS batch actions").
BATCH_ENTRIES = 10
BATCH_BYTES = 1_048_576
# SQS counts a message's body plus every attribute's name, type and value against its queue's
# maximum size. The source queue keeps 256 KiB (template.yaml, MaximumMessageSize), so a body
# is at most that; the dead-letter queue takes SQS's maximum, 1 MiB (template.yaml), so a body
# plus our attributes always fits it.
SOURCE_MESSAGE_MAX_BYTES = 262_144
DEAD_LETTER_MAX_BYTES = 1_048_576
# A redrive policy's maxReceiveCount: 1 to 1,000 (the bounds AWS CDK's validation of
# QueueDlqProps and the template's MaxReceiveCount parameter use; no AWS page states them).
MAX_RECEIVE_COUNT = 1_000
