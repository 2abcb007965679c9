"""Every price the cost figures use, us-east-1, with the date and public source of each: the one
place to update when AWS changes a price. Each figure is what the cited page says on the date
given (the date the page states, or the day it was read through this project's search corpus);
one marked unverified was not found in a page read and carries its fallback's reasoning."""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-12-07"  # the day these pages were read for issue 20


@dataclass(frozen=True)
class Price:
    usd: float
    per: str  # what one `usd` buys
    source: str
    as_of: str
    verified: bool = True


LAMBDA_REQUEST = Price(
    0.20 / 1e6,
    "request (invocation)",
    "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html "
    "($0.20 per 1 million requests)",
    READ_ON,
)
# Per GB-second of duration, by architecture (template.yaml's Architectures picks one). Duration
# is billed per 1 ms ("rounded up to the nearest 1 ms", https://aws.amazon.com/lambda/pricing/).
LAMBDA_GB_SECOND = {
    "x86_64": Price(
        0.0000166667,
        "GB-second, x86_64",
        "https://aws.amazon.com/lambda/pricing/ (first 6 billion GB-s/month; as quoted by "
        "https://cloudchipr.com/blog/aws-lambda-pricing)",
        READ_ON,
    ),
    "arm64": Price(
        0.0000133334,
        "GB-second, arm64",
        "https://aws.amazon.com/lambda/pricing/ (first 7.5 billion GB-s/month; as quoted by "
        "https://cloudchipr.com/blog/aws-lambda-pricing)",
        READ_ON,
    ),
}
# "each 64 KB chunk of a payload is billed as 1 request"; standard queue, first 100 billion
# requests/month, after the free million.
SQS_REQUEST = Price(
    0.40 / 1e6,
    "SQS standard request (64 KB chunk)",
    "https://aws.amazon.com/sqs/pricing/ (as quoted, March 2026, by "
    "https://cloudburn.io/blog/amazon-sqs-pricing)",
    "2026-03-14",
)
SQS_CHUNK_BYTES = 64 * 1024
# "There is no charge for the Data API": a Data API call is billed as the cluster's own time.
DATA_API_CALL = Price(
    0.0,
    "Data API call",
    "https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html (the cluster or "
    "workgroup is billed, not the calls; unverified wording: no per-call price is published)",
    READ_ON,
    verified=False,
)
# Direct PUT ingestion, first 500 TB/month: "priced per GB ingested in 5KB increments (a 3KB
# record is billed as 5KB, a 12KB record is billed as 15KB)" (the pricing page, read in its
# German and Russian copies). The $/GB figure itself was not in any page the corpus holds:
# unverified; $0.029 is AWS's published us-east-1 rate for the first tier as last known.
FIREHOSE_GB = Price(
    0.029,
    "GB ingested (each record rounded up to 5 KB)",
    "https://aws.amazon.com/kinesis/data-firehose/pricing/ (5 KB rounding: read; $/GB: unverified)",
    READ_ON,
    verified=False,
)
FIREHOSE_RECORD_ROUNDING = 5 * 1024  # "5 KB (5,120 bytes)", the pricing page's German copy
# "Pipes: $0.40 per million requests (after filter)"; "every 64KB of data counts as one request".
PIPES_REQUEST = Price(
    0.40 / 1e6,
    "Pipes request (64 KB chunk)",
    "https://aws.amazon.com/eventbridge/pricing/ (as quoted, March 2026, by "
    "https://cloudburn.io/blog/amazon-eventbridge-pricing; 64 KB chunks: "
    "https://awsnegotiations.com/eventbridge-pipes-cost)",
    "2026-03-13",
)
PIPES_CHUNK_BYTES = 64 * 1024

ALL: dict[str, Price] = {
    "Lambda requests": LAMBDA_REQUEST,
    "Lambda duration (x86_64)": LAMBDA_GB_SECOND["x86_64"],
    "Lambda duration (arm64)": LAMBDA_GB_SECOND["arm64"],
    "SQS requests": SQS_REQUEST,
    "Data API calls": DATA_API_CALL,
    "Firehose ingestion": FIREHOSE_GB,
    "EventBridge Pipes requests": PIPES_REQUEST,
}
