-- Remove duplicate rows from the events table, keeping the first copy of each SQS message:
-- the earliest `ingested_at`; copies that tie on it (written in the same second: GETDATE has
-- no fractional seconds) are copies of one message, and ROW_NUMBER keeps exactly one of them.
--
-- Run it as ONE transaction (docs/runbook.md, "Removing duplicate rows"): in Query Editor v2 or
-- psql between BEGIN and COMMIT, or as `aws redshift-data batch-execute-statement` (one
-- transaction, all or nothing). Concurrent inserts are safe: Redshift's serializable isolation
-- rolls the transaction back (ERROR 1023) rather than lose a row; then run it again.
--
-- Scope: rows whose event_time is within the last 30 days (the sort key, so the scan reads
-- little). All copies of a message share its event_time, so a message is either wholly in
-- scope or not at all: widening or narrowing the window can miss duplicates, never delete the
-- only copy. Replace public.appsflyer_events if TargetTable differs.
--
-- Redshift has no row identifier, so one of several identical rows cannot be deleted by itself:
-- the first copies are set aside in a temporary table, every copy of those messages is deleted
-- (DELETE ... USING), and the first copies are inserted back, `ingested_at` unchanged.

CREATE TEMP TABLE duplicate_message_ids AS
SELECT sqs_message_id
FROM public.appsflyer_events
WHERE event_time >= CURRENT_DATE - 30
GROUP BY sqs_message_id
HAVING COUNT(*) > 1;

CREATE TEMP TABLE first_copies AS
SELECT *
FROM (
    SELECT events.*,
           ROW_NUMBER() OVER (
               PARTITION BY events.sqs_message_id
               ORDER BY events.ingested_at, events.event_time, events.appsflyer_id
           ) AS copy_number
    FROM public.appsflyer_events AS events
    JOIN duplicate_message_ids AS duplicates
      ON duplicates.sqs_message_id = events.sqs_message_id
) AS numbered
WHERE copy_number = 1;

ALTER TABLE first_copies DROP COLUMN copy_number;

DELETE FROM public.appsflyer_events
USING duplicate_message_ids
WHERE public.appsflyer_events.sqs_message_id = duplicate_message_ids.sqs_message_id;

INSERT INTO public.appsflyer_events
SELECT * FROM first_copies;
