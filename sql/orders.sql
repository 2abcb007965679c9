-- A second, different table, ingested with configuration only (issue 11): the function reads
-- its columns from the catalog. events/orders-batch.json holds sample SQS events for it.
-- sqs_message_id is the message-id column, extra the overflow SUPER for fields without a
-- column, ingested_at is filled by the table's default.
CREATE TABLE IF NOT EXISTS "public"."orders" (
    "order_id" VARCHAR(64) NOT NULL,
    "customer_id" VARCHAR(64) NOT NULL,
    "amount" DECIMAL(12,2) NOT NULL,
    "currency" CHAR(3),
    "quantity" INTEGER,
    "discount" REAL,
    "paid" BOOLEAN,
    "order_date" DATE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "attributes" SUPER,
    "sqs_message_id" VARCHAR(128) NOT NULL,
    "extra" SUPER,
    "ingested_at" TIMESTAMP NOT NULL DEFAULT GETDATE()
)
DISTSTYLE AUTO
SORTKEY ("created_at");
