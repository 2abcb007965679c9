"""Invariants of template.yaml: queue timing, event source, concurrency, IAM scope, dashboard."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import pytest

from ingest.config import Settings, load_settings
from ingest.telemetry import MetricName
from ingest.wiring import Timing, deadlines_for
from tests.template.cfn import (
    PSEUDO,
    REPO,
    Evaluator,
    ParameterError,
    check_parameter,
    load_template,
    sub_variables,
)

pytestmark = pytest.mark.template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
FUNCTION = RESOURCES["IngestFunction"]["Properties"]
EVENT = FUNCTION["Events"]["Queue"]["Properties"]

SQS_MAX_VISIBILITY_TIMEOUT = 43_200
# "In most cases, a request must reach AWS within five minutes of the time stamp in the
# request" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html).
SIGNING_WINDOW_SECONDS = 300
CLOCK_SKEW_SECONDS = 30  # the margin the template allows for the signer's and AWS's clocks
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift/ingest-AbC123"
SECRET_2 = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift/mirror-XyZ789"
WORKGROUP_ID = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
WORKGROUP_ID_2 = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
CLUSTER_ARN = "arn:aws:redshift:us-east-1:123456789012:cluster:{}"
WORKGROUP_ARN = "arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/{}"
DBUSER_ARN = "arn:aws:redshift:us-east-1:123456789012:dbuser:{}/{}"
DBNAME_ARN = "arn:aws:redshift:us-east-1:123456789012:dbname:{}/{}"

PRIMARY_CLUSTER = {"PrimaryClusterIdentifier": "analytics", "PrimaryDbUser": "ingest"}
# Every deployment names an alarm destination (a Rule); the default stack of these tests.
ALARMS = {"AlarmEmail": "oncall@example.com"}
STACK = {**PRIMARY_CLUSTER, **ALARMS}


def _allowed(name: str) -> list[int]:
    return [int(value) for value in PARAMETERS[name]["AllowedValues"]]


# ---------------------------------------------------------------------------- queue timing


def _visibility(timeout: int, window: int) -> int:
    """Lambda's guidance (6 x timeout + window), and never shorter than an invocation started
    within the window of its receive plus the time its last submit may spend in flight."""
    return max(6 * timeout + window, timeout + window + SIGNING_WINDOW_SECONDS + CLOCK_SKEW_SECONDS)


def test_visibility_timeout_outlasts_lambdas_guidance_and_any_submit_in_flight() -> None:
    # Given the queue's visibility timeout looked up from the two parameters the function uses
    lookup = RESOURCES["Queue"]["Properties"]["VisibilityTimeout"]
    assert lookup == {
        "Fn::FindInMap": [
            "VisibilityTimeout",
            {"Ref": "FunctionTimeoutSeconds"},
            {"Ref": "BatchingWindowSeconds"},
        ]
    }
    assert FUNCTION["Timeout"] == {"Ref": "FunctionTimeoutSeconds"}
    assert EVENT["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindowSeconds"}
    # Then every combination CloudFormation accepts has exactly Lambda's recommended value
    table = TEMPLATE["Mappings"]["VisibilityTimeout"]
    for timeout in _allowed("FunctionTimeoutSeconds"):
        for window in _allowed("BatchingWindowSeconds"):
            visibility = table[str(timeout)][str(window)]
            assert visibility == _visibility(timeout, window), (timeout, window)
            assert visibility >= 6 * timeout + window
            # A redelivery is received one visibility timeout after the first receive; the first
            # invocation began within the window and signed its last submit before its timeout,
            # and that request is refused once the signing window has passed.
            latest_arrival = window + timeout + SIGNING_WINDOW_SECONDS + CLOCK_SKEW_SECONDS
            assert visibility >= latest_arrival, (timeout, window)
            assert visibility <= SQS_MAX_VISIBILITY_TIMEOUT
    signing = TEMPLATE["Mappings"]["Constants"]["Signing"]
    assert signing == {
        "RequestWindowSeconds": SIGNING_WINDOW_SECONDS,
        "ClockSkewSeconds": CLOCK_SKEW_SECONDS,
    }
    # And the table holds nothing the parameters cannot select (no stale rows)
    assert sorted(int(t) for t in table) == sorted(_allowed("FunctionTimeoutSeconds"))
    for row in table.values():
        assert sorted(int(w) for w in row) == sorted(_allowed("BatchingWindowSeconds"))


def test_function_timeout_stays_within_lambda_and_batch_windows_allow_large_batches() -> None:
    assert max(_allowed("FunctionTimeoutSeconds")) <= 900
    # A batch of more than 10 records needs a window of at least one second.
    assert min(_allowed("BatchingWindowSeconds")) >= 1
    assert max(_allowed("BatchingWindowSeconds")) <= 300


def test_dead_letter_queue_catches_what_the_queue_gives_up_on() -> None:
    queue = RESOURCES["Queue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert PARAMETERS["MaxReceiveCount"]["MinValue"] >= 5
    assert PARAMETERS["MaxReceiveCount"]["Default"] >= 5
    assert _retention("DeadLetterQueue") == 14 * 24 * 3600
    # A message SQS moves to the DLQ keeps its first enqueue time, and expiry counts from it:
    # the DLQ must outlive the source's retention.
    assert _retention("Queue") < _retention("DeadLetterQueue")
    # The archive keeps what a move task puts there as long as the DLQ would.
    assert _retention("ArchiveQueue") == _retention("DeadLetterQueue")
    # The function dead-letters poison records itself, to the same queue.
    assert FUNCTION["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] == {
        "Ref": "DeadLetterQueue"
    }


def _retention(queue: str) -> int:
    seconds = Evaluator(TEMPLATE, STACK).value(RESOURCES[queue]["Properties"])
    return int(seconds["MessageRetentionPeriod"])


def test_queues_are_encrypted_retained_and_refuse_plain_http() -> None:
    for name in ("Queue", "DeadLetterQueue", "ArchiveQueue"):
        assert RESOURCES[name]["Properties"]["SqsManagedSseEnabled"] is True
        assert RESOURCES[name]["DeletionPolicy"] == "Retain"
        assert RESOURCES[name]["UpdateReplacePolicy"] == "Retain"
    policy = RESOURCES["QueuePolicy"]["Properties"]
    assert policy["Queues"] == [
        {"Ref": "Queue"},
        {"Ref": "DeadLetterQueue"},
        {"Ref": "ArchiveQueue"},
    ]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------------------- event source


def test_event_source_reports_partial_failures_and_caps_concurrency() -> None:
    assert FUNCTION["Events"]["Queue"]["Type"] == "SQS"
    assert EVENT["Queue"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert EVENT["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert EVENT["BatchSize"] == {"Ref": "BatchSize"}
    assert EVENT["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    batch = PARAMETERS["BatchSize"]
    assert (batch["MinValue"], batch["MaxValue"]) == (1, 10_000)
    # Lambda's own range for MaximumConcurrency; the quota Rules narrow it further.
    assert min(_allowed("MaximumConcurrency")) >= 2
    assert max(_allowed("MaximumConcurrency")) <= max(_allowed("ActiveStatementQuota"))


# One manual or console invoke and one asynchronous invocation (its retries run one at a time)
# beside the event source's MaximumConcurrency.
RESERVED_HEADROOM = 2


@pytest.mark.parametrize("concurrency", _allowed("MaximumConcurrency"))
def test_reserved_concurrency_is_the_event_sources_maximum_plus_headroom(concurrency: int) -> None:
    parameters = {**STACK, "MaximumConcurrency": str(concurrency)}
    function = Evaluator(TEMPLATE, parameters).value(FUNCTION)
    assert function["ReservedConcurrentExecutions"] == concurrency + RESERVED_HEADROOM
    # AWS: the reservation at least the mappings' maximum concurrency, or Lambda throttles.
    assert function["ReservedConcurrentExecutions"] >= concurrency
    assert TEMPLATE["Mappings"]["Constants"]["Concurrency"]["ReservedHeadroom"] == 2
    off = Evaluator(TEMPLATE, {**parameters, "ReserveConcurrency": "false"}).value(FUNCTION)
    assert "ReservedConcurrentExecutions" not in off


def test_reservation_is_on_by_default_and_its_mapping_has_no_stale_rows() -> None:
    assert PARAMETERS["ReserveConcurrency"]["Default"] == "true"
    table = TEMPLATE["Mappings"]["ReservedConcurrency"]
    assert sorted(int(key) for key in table) == _allowed("MaximumConcurrency")
    assert "Reserved concurrency" in (REPO / "docs" / "capacity.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- quota bound


def _targets_on_one_cluster(parameters: dict[str, str]) -> int:
    """How many of this stack's targets share the primary's cluster or workgroup."""
    same = any(
        parameters.get(f"Secondary{key}", "") != ""
        and parameters.get(f"Secondary{key}") == parameters.get(f"Primary{key}")
        for key in ("ClusterIdentifier", "WorkgroupName", "WorkgroupId")
    )
    return 2 if same else 1


SHARED_CLUSTER = {
    "PrimaryClusterIdentifier": "analytics",
    "PrimaryDbUser": "ingest",
    "SecondaryClusterIdentifier": "analytics",
    "SecondaryDbUser": "ingest",
    "SecondaryDatabase": "mirror",
}
SHARED_WORKGROUP = {
    "PrimaryWorkgroupName": "events-wg",
    "PrimaryWorkgroupId": WORKGROUP_ID,
    "SecondaryWorkgroupName": "events-wg",
    "SecondaryWorkgroupId": WORKGROUP_ID,
    "SecondaryDatabase": "mirror",
}


@pytest.mark.parametrize("reserve", ["true", "false"])
@pytest.mark.parametrize("quota", _allowed("ActiveStatementQuota"))
@pytest.mark.parametrize(
    "targets",
    [PRIMARY_CLUSTER, SHARED_CLUSTER, SHARED_WORKGROUP],
    ids=["one target", "two databases on one cluster", "two databases on one workgroup"],
)
def test_function_concurrency_times_targets_on_a_cluster_stays_within_the_quota(
    quota: int, targets: dict[str, str], reserve: str
) -> None:
    # Given every MaximumConcurrency CloudFormation accepts, with this quota and these targets
    per_cluster = _targets_on_one_cluster(targets)
    for concurrency in _allowed("MaximumConcurrency"):
        parameters = {
            **targets,
            **ALARMS,
            "ActiveStatementQuota": str(quota),
            "MaximumConcurrency": str(concurrency),
            "ReserveConcurrency": reserve,
        }
        # The function's concurrency: the reservation caps every invocation, manual ones
        # included; without one, the event source's maximum is the only cap the stack has.
        function = Evaluator(TEMPLATE, parameters).value(FUNCTION)
        invocations = function.get("ReservedConcurrentExecutions", concurrency)
        assert invocations == concurrency + (RESERVED_HEADROOM if reserve == "true" else 0)
        # When the Rules are evaluated
        failures = Evaluator(TEMPLATE, parameters).failed_rules()
        # Then exactly the values whose statements exceed the quota are refused
        within = invocations * per_cluster <= quota
        assert (failures == []) is within, (concurrency, reserve, failures)


def test_the_quota_defaults_to_the_figure_the_old_system_hit() -> None:
    assert PARAMETERS["ActiveStatementQuota"]["Default"] == 500
    assert 200 in _allowed("ActiveStatementQuota")  # the figure some AWS pages give


@pytest.mark.parametrize(
    "secondary",
    [
        {"SecondaryClusterIdentifier": "analytics", "SecondaryDbUser": "ingest"},
        {"SecondaryClusterIdentifier": "analytics", "SecondarySecretArn": SECRET},
    ],
)
def test_a_secondary_equal_to_the_primary_is_refused(secondary: dict[str, str]) -> None:
    failures = Evaluator(TEMPLATE, {**PRIMARY_CLUSTER, **ALARMS, **secondary}).failed_rules()
    assert any("may not be the primary" in failure for failure in failures), failures
    other_database = {**PRIMARY_CLUSTER, **ALARMS, **secondary, "SecondaryDatabase": "mirror"}
    assert Evaluator(TEMPLATE, other_database).failed_rules() == []


def test_a_workgroup_secondary_equal_to_the_primary_is_refused() -> None:
    same = {**SHARED_WORKGROUP, **ALARMS, "SecondaryDatabase": "dev"}
    failures = Evaluator(TEMPLATE, same).failed_rules()
    assert any("may not be the primary" in failure for failure in failures), failures


def test_function_matches_the_handler_package() -> None:
    assert FUNCTION["Runtime"] == "python3.13"
    assert FUNCTION["Architectures"] == ["arm64"]
    assert FUNCTION["CodeUri"] == "src/handler/"
    assert FUNCTION["Handler"] == "app.lambda_handler"
    code = REPO / "src" / "handler"
    assert "def lambda_handler(" in (code / "app.py").read_text(encoding="utf-8")
    assert (code / "requirements.txt").is_file()  # sam build pip-installs it
    assert (code / "ingest" / "__init__.py").is_file()


def test_function_logs_to_its_own_group_with_retention() -> None:
    assert FUNCTION["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    group = RESOURCES["FunctionLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_powertools_settings_name_the_dashboards_namespace_and_service() -> None:
    variables = Evaluator(TEMPLATE, STACK).value(FUNCTION["Environment"]["Variables"])
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == _namespace()
    assert variables["POWERTOOLS_SERVICE_NAME"] == PSEUDO["AWS::StackName"]
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"


# ---------------------------------------------------------------------------- targets and IAM


@dataclass(frozen=True)
class Scenario:
    """One way to deploy, and what the function and its role must then get."""

    parameters: dict[str, str]
    targets: list[dict[str, str]]
    execute_on: set[str]
    credentials: set[tuple[str, str]]  # (action, resource)


SCENARIOS = {
    "cluster with db user": Scenario(
        PRIMARY_CLUSTER,
        [
            {
                "name": "primary",
                "database": "dev",
                "cluster_identifier": "analytics",
                "db_user": "ingest",
            }
        ],
        {CLUSTER_ARN.format("analytics")},
        {
            ("redshift:GetClusterCredentials", DBUSER_ARN.format("analytics", "ingest")),
            ("redshift:GetClusterCredentials", DBNAME_ARN.format("analytics", "dev")),
        },
    ),
    "cluster with secret": Scenario(
        {"PrimaryClusterIdentifier": "analytics", "PrimarySecretArn": SECRET},
        [
            {
                "name": "primary",
                "database": "dev",
                "cluster_identifier": "analytics",
                "secret_arn": SECRET,
            }
        ],
        {CLUSTER_ARN.format("analytics")},
        {("secretsmanager:GetSecretValue", SECRET)},
    ),
    "workgroup with IAM": Scenario(
        {
            "PrimaryWorkgroupName": "events-wg",
            "PrimaryWorkgroupId": WORKGROUP_ID,
            "PrimaryDatabase": "events",
        },
        [{"name": "primary", "database": "events", "workgroup_name": "events-wg"}],
        {WORKGROUP_ARN.format(WORKGROUP_ID)},
        {("redshift-serverless:GetCredentials", WORKGROUP_ARN.format(WORKGROUP_ID))},
    ),
    "workgroup with secret": Scenario(
        {
            "PrimaryWorkgroupName": "events-wg",
            "PrimaryWorkgroupId": WORKGROUP_ID,
            "PrimarySecretArn": SECRET,
        },
        [
            {
                "name": "primary",
                "database": "dev",
                "workgroup_name": "events-wg",
                "secret_arn": SECRET,
            }
        ],
        {WORKGROUP_ARN.format(WORKGROUP_ID)},
        {("secretsmanager:GetSecretValue", SECRET)},
    ),
    "cluster and workgroup": Scenario(
        {
            **PRIMARY_CLUSTER,
            "SecondaryWorkgroupName": "mirror-wg",
            "SecondaryWorkgroupId": WORKGROUP_ID_2,
            "SecondaryDatabase": "mirror",
        },
        [
            {
                "name": "primary",
                "database": "dev",
                "cluster_identifier": "analytics",
                "db_user": "ingest",
            },
            {"name": "secondary", "database": "mirror", "workgroup_name": "mirror-wg"},
        ],
        {CLUSTER_ARN.format("analytics"), WORKGROUP_ARN.format(WORKGROUP_ID_2)},
        {
            ("redshift:GetClusterCredentials", DBUSER_ARN.format("analytics", "ingest")),
            ("redshift:GetClusterCredentials", DBNAME_ARN.format("analytics", "dev")),
            ("redshift-serverless:GetCredentials", WORKGROUP_ARN.format(WORKGROUP_ID_2)),
        },
    ),
    "two clusters with secrets": Scenario(
        {
            "PrimaryClusterIdentifier": "analytics",
            "PrimarySecretArn": SECRET,
            "SecondaryClusterIdentifier": "analytics-dr",
            "SecondarySecretArn": SECRET_2,
        },
        [
            {
                "name": "primary",
                "database": "dev",
                "cluster_identifier": "analytics",
                "secret_arn": SECRET,
            },
            {
                "name": "secondary",
                "database": "dev",
                "cluster_identifier": "analytics-dr",
                "secret_arn": SECRET_2,
            },
        ],
        {CLUSTER_ARN.format("analytics"), CLUSTER_ARN.format("analytics-dr")},
        {("secretsmanager:GetSecretValue", SECRET), ("secretsmanager:GetSecretValue", SECRET_2)},
    ),
}


def _statements(evaluated_role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in evaluated_role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_targets_reach_the_function_in_the_shape_its_config_accepts(scenario: Scenario) -> None:
    # Given a deployment's parameters that the template's Rules accept
    stack = Evaluator(TEMPLATE, {**scenario.parameters, **ALARMS})
    assert stack.failed_rules() == []
    # When CloudFormation resolves the function's environment
    variables = stack.value(FUNCTION["Environment"]["Variables"])
    # Then REDSHIFT_TARGETS is exactly the intended targets, and the code's own loader agrees
    assert json.loads(variables["REDSHIFT_TARGETS"]) == scenario.targets
    assert not [name for name in variables if name.startswith("LEDGER")]
    environment = {
        **variables,
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    }
    settings = load_settings(environment)
    assert [t.name for t in settings.targets] == [t["name"] for t in scenario.targets]
    assert settings.table == "public.appsflyer_events"


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_role_grants_only_scoped_resources(scenario: Scenario) -> None:
    stack = Evaluator(TEMPLATE, {**scenario.parameters, **ALARMS})
    role = stack.resource("FunctionRole")
    assert role is not None
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = _statements(role)
    granted: set[tuple[str, str]] = set()
    wildcard: list[tuple[list[str], Any]] = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions, resources = _as_list(statement["Action"]), _as_list(statement["Resource"])
        assert all("*" not in action for action in actions), actions
        if resources == ["*"]:
            # Only where IAM has no resource to name: the Data API's statement IDs (limited to
            # the statements this role submitted), ListStatements (which lists only the
            # caller's role's statements) and X-Ray's trace upload.
            wildcard.append((sorted(actions), statement.get("Condition")))
            continue
        for resource in resources:
            assert "*" not in resource, (actions, resource)
            granted.update((action, resource) for action in actions)

    def on(action: str) -> set[str]:
        return {resource for granted_action, resource in granted if granted_action == action}

    assert sorted(wildcard, key=str) == sorted(
        [
            (
                [
                    "redshift-data:CancelStatement",
                    "redshift-data:DescribeStatement",
                    "redshift-data:GetStatementResult",
                ],
                {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}},
            ),
            (["redshift-data:ListStatements"], None),
            (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], None),
        ],
        key=str,
    )
    assert on("redshift-data:ExecuteStatement") == scenario.execute_on
    assert on("redshift-data:BatchExecuteStatement") == scenario.execute_on
    credential_actions = {
        "redshift:GetClusterCredentials",
        "secretsmanager:GetSecretValue",
        "redshift-serverless:GetCredentials",
    }
    assert {g for g in granted if g[0] in credential_actions} == scenario.credentials
    assert on("sqs:SendMessage") == {"<DeadLetterQueue.Arn>"}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert on(action) == {"<Queue.Arn>"}
    assert on("logs:PutLogEvents") == {"<FunctionLogGroup.Arn>"}
    # Exactly what the code calls: no DynamoDB (no ledger).
    every_action = {action for action, _ in granted}
    assert every_action <= {
        *credential_actions,
        "redshift-data:ExecuteStatement",
        "redshift-data:BatchExecuteStatement",
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_function_uses_the_scoped_role_so_sam_adds_no_policies() -> None:
    # SAM's SQS event would attach AWSLambdaSQSQueueExecutionRole (every queue) to a role it made.
    assert FUNCTION["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    assert "Policies" not in FUNCTION


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({}, "exactly one of PrimaryClusterIdentifier or PrimaryWorkgroupName"),
        (
            {"PrimaryClusterIdentifier": "a", "PrimaryWorkgroupName": "wg-1", "PrimaryDbUser": "u"},
            "exactly one of PrimaryClusterIdentifier or PrimaryWorkgroupName",
        ),
        ({"PrimaryClusterIdentifier": "a"}, "exactly one of PrimaryDbUser or PrimarySecretArn"),
        (
            {"PrimaryClusterIdentifier": "a", "PrimaryDbUser": "u", "PrimarySecretArn": SECRET},
            "exactly one of PrimaryDbUser or PrimarySecretArn",
        ),
        ({"PrimaryWorkgroupName": "wg-1"}, "needs PrimaryWorkgroupId"),
        (
            {
                "PrimaryWorkgroupName": "wg-1",
                "PrimaryWorkgroupId": WORKGROUP_ID,
                "PrimaryDbUser": "u",
            },
            "not PrimaryDbUser",
        ),
        ({**PRIMARY_CLUSTER, "SecondarySecretArn": SECRET}, "need a secondary target"),
        (
            {**PRIMARY_CLUSTER, "SecondaryClusterIdentifier": "b"},
            "exactly one of SecondaryDbUser or SecondarySecretArn",
        ),
        ({**PRIMARY_CLUSTER, "SecondaryWorkgroupName": "wg-2"}, "needs SecondaryWorkgroupId"),
        (PRIMARY_CLUSTER, "Give AlarmEmail or AlarmTopicArn"),
    ],
)
def test_rules_refuse_incomplete_or_ambiguous_targets(
    parameters: dict[str, str], broken: str
) -> None:
    failures = Evaluator(TEMPLATE, parameters).failed_rules()
    assert any(broken in failure for failure in failures), failures


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PrimaryClusterIdentifier", 'a"b'),  # would break the REDSHIFT_TARGETS JSON
        ("PrimaryDatabase", "dev; drop"),
        ("PrimaryWorkgroupId", "events-wg"),  # a name where IAM needs the ID
        ("PrimarySecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*"),
        # No 6-character suffix: IAM would match the policy against the full ARN and deny.
        (
            "PrimarySecretArn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift/ingest",
        ),
        ("PrimarySecretArn", "arn:aws-foo:secretsmanager:us-east-1:123456789012:secret:a-AbC123"),
        ("PrimarySecretArn", "arn:aws:secretsmanager:*:123456789012:secret:a-AbC123"),
        ("MaximumConcurrency", "7"),  # off the ladder the quota Rules compare against
        ("ActiveStatementQuota", "1000"),
        ("LogLevel", "WARNING"),  # Lambda's ApplicationLogLevel says WARN
        ("LogLevel", "WARN"),  # would drop every EMF line (see the log level tests)
        ("LogLevel", "ERROR"),
        ("ReserveConcurrency", "yes"),
        ("TargetTable", "appsflyer_events"),  # not schema-qualified
        ("MaximumConcurrency", "1"),
        ("BatchSize", "10001"),
    ],
)
def test_parameters_refuse_values_that_would_break_json_or_widen_iam(name: str, value: str) -> None:
    with pytest.raises(ParameterError):
        Evaluator(TEMPLATE, {**PRIMARY_CLUSTER, name: value})


# ---------------------------------------------------------------------------- dashboard


def _namespace() -> str:
    namespace: str = TEMPLATE["Mappings"]["Constants"]["Metrics"]["Namespace"]
    return namespace


def _dashboard_body() -> tuple[str, dict[str, Any]]:
    text, variables = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return text, variables


def _dashboard(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    stack = Evaluator(TEMPLATE, parameters or STACK)
    body: dict[str, Any] = json.loads(stack.value({"Fn::Sub": list(_dashboard_body())}))
    return body


_SEARCH = re.compile(
    r"SEARCH\('\{(?P<namespace>[^,}]+),(?P<dimensions>[^}]*)\}\s+"
    r"MetricName=\"(?P<metric>[A-Za-z]+)\"\s+service=\"(?P<service>[^\"]+)\"',\s*'(?P<stat>[^']+)'"
)


@dataclass(frozen=True)
class Shown:
    namespace: str
    metric: str
    dimensions: tuple[str, ...]
    stat: str | None


def _shown() -> list[Shown]:
    """Every metric a dashboard widget graphs: plain metric rows and SEARCH expressions."""
    shown = []
    for widget in _dashboard()["widgets"]:
        properties = widget["properties"]
        for row in properties.get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            if "expression" in options and not options["expression"].startswith("SEARCH("):
                continue  # math over the widget's own rows, which are listed themselves
            if "expression" in options:
                match = _SEARCH.search(options["expression"])
                assert match, options["expression"]
                assert match["service"] == PSEUDO["AWS::StackName"]
                dimensions = tuple(sorted(match["dimensions"].split(",")))
                shown.append(Shown(match["namespace"], match["metric"], dimensions, match["stat"]))
                continue
            plain = [part for part in row if isinstance(part, str)]
            namespace, metric, *pairs = plain
            assert "." not in (namespace, metric), "write rows out in full: tests parse them"
            dimensions = tuple(sorted(pairs[0::2]))
            shown.append(
                Shown(namespace, metric, dimensions, options.get("stat", properties.get("stat")))
            )
    return shown


def test_dashboard_body_is_json_and_every_substitution_resolves() -> None:
    text, variables = _dashboard_body()
    names = sub_variables(text)
    known_resources = set(RESOURCES)
    for name in names:
        base = name.split(".", 1)[0]
        assert (
            name in variables or name in PSEUDO or name in PARAMETERS or base in known_resources
        ), name
    assert _dashboard()["widgets"]


SERVICE = ("service",)
PER_TARGET = ("Target", "service")
# The metrics the code emits, with each set of dimensions it emits them with
# (ingest/telemetry.py: RecordsReturned both for the batch and per target).
EMITTED_METRICS: dict[str, set[tuple[str, ...]]] = {
    "RecordsReceived": {SERVICE},
    "RecordsReturned": {SERVICE, PER_TARGET},
    "DeadLetterSendFailures": {SERVICE},
    "RowsWritten": {PER_TARGET},
    "RowsAlreadyPresent": {PER_TARGET},
    "StatementsSubmitted": {PER_TARGET},
    "StatementsCancelled": {PER_TARGET},
    "StatementsUnconfirmed": {PER_TARGET},
    "QuotaRejections": {PER_TARGET},
    "Throttles": {PER_TARGET},
    "BisectionSteps": {PER_TARGET},
    "TransactionsCommitted": {PER_TARGET},
    "FieldsDropped": {PER_TARGET},
    "StatementDuration": {PER_TARGET},
    "RecordsDeadLettered": {("Reason", "service")},
}


def test_dashboard_metric_list_is_the_codes() -> None:
    assert {str(member) for member in MetricName} == set(EMITTED_METRICS)


def test_dashboard_shows_exactly_the_metrics_the_code_emits() -> None:
    on_dashboard = {
        (shown.metric, shown.dimensions) for shown in _shown() if shown.namespace == _namespace()
    }
    emitted = {
        (metric, dimensions) for metric, sets in EMITTED_METRICS.items() for dimensions in sets
    }
    assert on_dashboard == emitted


def test_dashboard_queries_each_metric_with_the_dimensions_it_is_emitted_with() -> None:
    for shown in _shown():
        if shown.namespace == _namespace():
            assert shown.dimensions in EMITTED_METRICS[shown.metric], shown


def test_every_per_target_and_per_reason_series_is_labelled_by_its_dimension() -> None:
    # A static label names every series of a SEARCH alike: primary and secondary looked the same.
    for widget in _dashboard()["widgets"]:
        for row in widget["properties"].get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            expression = options.get("expression", "")
            for dimension in ("Target", "Reason"):
                if expression.startswith("SEARCH(") and f",{dimension}," in expression:
                    assert f"${{PROP('Dim.{dimension}')}}" in options["label"], expression


def test_dashboard_shows_statement_duration_percentiles_and_dead_letters_per_reason() -> None:
    shown = [s for s in _shown() if s.namespace == _namespace()]
    duration_stats = {s.stat for s in shown if s.metric == "StatementDuration"}
    assert {"p50", "p99"} <= duration_stats
    (per_reason,) = [s for s in shown if s.metric == "RecordsDeadLettered"]
    assert per_reason.dimensions == (
        "Reason",
        "service",
    )  # SEARCH: new reasons appear by themselves


def test_dashboard_shows_the_queues_and_the_function() -> None:
    aws = {(s.namespace, s.metric) for s in _shown()}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/Lambda", "Duration"),
    } <= aws
    queues = {
        row[3]
        for widget in _dashboard()["widgets"]
        for row in widget["properties"].get("metrics", [])
        if row[0] == "AWS/SQS"
    }
    assert queues == {
        "<Queue.QueueName>",
        "<DeadLetterQueue.QueueName>",
        "<ArchiveQueue.QueueName>",
    }


def test_no_widget_mixes_an_alarm_annotation_with_a_metrics_array() -> None:
    for widget in _dashboard()["widgets"]:
        properties = widget["properties"]
        if "metrics" in properties:
            assert "alarms" not in properties.get("annotations", {}), properties["title"]


def _horizontal(title_start: str) -> dict[str, float]:
    (widget,) = [
        w
        for w in _dashboard()["widgets"]
        if w["properties"].get("title", "").startswith(title_start)
    ]
    return {a["label"]: a["value"] for a in widget["properties"]["annotations"]["horizontal"]}


def test_duration_graph_shows_the_timeout_the_work_deadline_and_the_alarm_line() -> None:
    timeout = int(PARAMETERS["FunctionTimeoutSeconds"]["Default"])
    work_ms = round(_work_deadline_seconds(timeout) * 1000)
    lines = _horizontal("Function duration vs timeout")
    assert lines == {
        "timeout": timeout * 1000,
        "work deadline: cancels after it": work_ms,
        "alarm: 80 % of the work deadline": work_ms * 0.8,
    }


# The titles docs/runbook.md's triage section reads, left to right.
HEALTH_ROW = [
    "Oldest message age vs visibility timeout",
    "Dead-letter arrivals",
    "Function errors",
    "Returned / received",
    "Rows written per target",
]


def test_the_top_row_is_the_health_row_under_a_text_widget_that_says_how_to_read_it() -> None:
    widgets = _dashboard()["widgets"]
    (text,) = [w for w in widgets if w["type"] == "text"]
    assert (text["x"], text["y"], text["width"]) == (0, 0, 24)
    markdown = text["properties"]["markdown"]
    for state in ("**healthy**", "**behind**", "**broken**"):
        assert state in markdown
    assert "docs/runbook.md" in markdown
    top = sorted(
        (w for w in widgets if w["y"] == text["height"]),
        key=lambda widget: widget["x"],
    )
    assert [w["properties"]["title"] for w in top] == HEALTH_ROW
    assert sum(w["width"] for w in top) == 24
    assert all(w["height"] == top[0]["height"] for w in top)


def test_health_row_graphs_what_its_titles_say() -> None:
    row = {
        w["properties"]["title"]: w["properties"]
        for w in _dashboard()["widgets"]
        if "title" in w["properties"]
    }
    age = row[HEALTH_ROW[0]]
    assert age["metrics"][0][:4] == [
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        "<Queue.QueueName>",
    ]
    visibility = _visibility(60, 2)
    assert _horizontal(HEALTH_ROW[0])["visibility timeout (one retry)"] == visibility
    # The same arrivals as DeadLetterArrivalsAlarm, over the same queries.
    arrivals = [r[-1] for r in row[HEALTH_ROW[1]]["metrics"] if r[-1].get("id") == "arrivals"]
    alarm = _alarms(STACK)["DeadLetterArrivalsAlarm"]
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if q["ReturnData"]]
    assert [a["expression"] for a in arrivals] == [expression]
    errors = {tuple(r[:2]) for r in row[HEALTH_ROW[2]]["metrics"]}
    assert ("AWS/Lambda", "Errors") in errors
    ratio = [r[-1] for r in row[HEALTH_ROW[3]]["metrics"]]
    ids = {options["id"]: options for options in ratio}
    assert ids["ratio"]["expression"] == "IF(received > 0, 100 * FILL(returned, 0) / received, 0)"
    assert ids["received"]["visible"] is False
    assert ids["returned"]["visible"] is False
    (written,) = row[HEALTH_ROW[4]]["metrics"]
    assert 'MetricName="RowsWritten"' in written[0]["expression"]


def test_dashboard_alarm_widget_lists_every_alarm_of_the_stack() -> None:
    every = {**SCENARIOS["cluster and workgroup"].parameters, **ALARMS}
    for parameters in (STACK, {**every, "SilentQueueAlarmSeconds": "3600"}):
        stack = Evaluator(TEMPLATE, parameters)
        deployed = {
            f"<{name}.Arn>"
            for name, spec in RESOURCES.items()
            if spec["Type"] == "AWS::CloudWatch::Alarm" and stack.resource(name) is not None
        }
        (widget,) = [w for w in _dashboard(parameters)["widgets"] if w["type"] == "alarm"]
        assert set(widget["properties"]["alarms"]) == deployed


# ---------------------------------------------------------------------------- alarms


def _alarms(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    stack = Evaluator(TEMPLATE, parameters)
    alarms = {}
    for name, spec in RESOURCES.items():
        if spec["Type"] == "AWS::CloudWatch::Alarm":
            evaluated = stack.resource(name)
            if evaluated is not None:
                alarms[name] = evaluated["Properties"]
    return alarms


def test_every_alarm_has_a_runbook_entry_and_notifies_the_destination() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    for name, alarm in _alarms({**STACK, "SilentQueueAlarmSeconds": "3600"}).items():
        anchor = re.search(r"docs/runbook\.md#([a-z]+)", alarm["AlarmDescription"])
        assert anchor, name
        assert f'<a id="{anchor[1]}"></a>' in runbook, (name, anchor[1])
        assert alarm["AlarmActions"] == ["<AlarmTopic>"], name
        assert alarm["OKActions"] == ["<AlarmTopic>"], name  # recovery is news too


def test_alarms_reach_an_existing_topic_when_no_email_is_given() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:oncall"
    existing = {**PRIMARY_CLUSTER, "AlarmTopicArn": topic}
    assert Evaluator(TEMPLATE, existing).failed_rules() == []
    assert Evaluator(TEMPLATE, existing).resource("AlarmTopic") is None
    for name, alarm in _alarms(existing).items():
        assert alarm["AlarmActions"] == [topic], name


@pytest.mark.parametrize("timeout", _allowed("FunctionTimeoutSeconds"))
@pytest.mark.parametrize("window", _allowed("BatchingWindowSeconds"))
def test_queue_age_alarm_is_above_any_single_retry(timeout: int, window: int) -> None:
    parameters = {
        **STACK,
        "FunctionTimeoutSeconds": str(timeout),
        "BatchingWindowSeconds": str(window),
    }
    alarm = _alarms(parameters)["OldestMessageAgeAlarm"]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<Queue.QueueName>"}]
    visibility = _visibility(timeout, window)
    assert alarm["Threshold"] == 2 * visibility + window
    # A message retried once is deleted by: wait for a batch, the failed invocation, the
    # visibility timeout, a new batch window and the successful invocation (+ a poll minute).
    one_retry = window + timeout + visibility + window + timeout + 60
    assert alarm["Threshold"] > one_retry
    assert alarm["Threshold"] > visibility


def test_queue_age_alarm_table_has_every_combination() -> None:
    table = TEMPLATE["Mappings"]["OldestMessageAgeAlarm"]
    visibility = TEMPLATE["Mappings"]["VisibilityTimeout"]
    assert set(table) == set(visibility)
    for timeout, row in table.items():
        assert row == {window: 2 * v + int(window) for window, v in visibility[timeout].items()}


def test_dead_letter_age_alarm_fires_before_any_dead_letter_can_expire() -> None:
    alarm = _alarms(STACK)["DeadLetterAgeAlarm"]
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<DeadLetterQueue.QueueName>"}]
    # A message SQS moved there may have spent the source's whole retention in the source
    # queue, and expires at the DLQ's retention counted from its first enqueue: warn 2 days
    # before the earliest such expiry.
    earliest_expiry = _retention("DeadLetterQueue") - _retention("Queue")
    assert int(alarm["Threshold"]) == earliest_expiry - 2 * 24 * 3600
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letter_arrivals_alarm_counts_new_messages_and_does_not_latch() -> None:
    alarm = _alarms(STACK)["DeadLetterArrivalsAlarm"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    watched = {
        query_id: query["MetricStat"]["Metric"]["MetricName"]
        for query_id, query in queries.items()
        if "MetricStat" in query
    }
    assert watched == {
        "sent": "NumberOfMessagesSent",  # the function's own dead letters
        "visible": "ApproximateNumberOfMessagesVisible",
        "hidden": "ApproximateNumberOfMessagesNotVisible",
    }
    for query_id in watched:
        dimensions = queries[query_id]["MetricStat"]["Metric"]["Dimensions"]
        assert dimensions == [{"Name": "QueueName", "Value": "<DeadLetterQueue.QueueName>"}]
        assert queries[query_id]["ReturnData"] is False
    (returned,) = [q for q in queries.values() if q["ReturnData"]]
    # Growth of visible + in flight (SQS's own moves) or sends (the function's): an arrival.
    # A depth alarm (>= 1 visible) would stay in ALARM and never page for a second outage.
    assert (
        returned["Expression"] == "MAX([FILL(sent, 0), DIFF(FILL(visible, 0) + FILL(hidden, 0))])"
    )
    assert alarm["Threshold"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


def _function_settings() -> Settings:
    """The settings the deployed function loads (the template's environment, default stack)."""
    variables = Evaluator(TEMPLATE, STACK).value(FUNCTION["Environment"]["Variables"])
    return load_settings(
        {**variables, "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/dlq"}
    )


def _work_deadline_seconds(timeout: int) -> float:
    """When the function's own code stops submitting and cancels, for a fresh invocation of
    this timeout (ingest.wiring.deadlines_for, on a clock that does not move)."""
    deadlines = deadlines_for(_function_settings(), timeout, Timing(clock=lambda: 0.0))
    return deadlines.work.expires_at


@pytest.mark.parametrize("timeout", _allowed("FunctionTimeoutSeconds"))
def test_duration_alarm_fires_before_the_function_starts_cancelling(timeout: int) -> None:
    alarm = _alarms({**STACK, "FunctionTimeoutSeconds": str(timeout)})["FunctionDurationAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Duration")
    work = _work_deadline_seconds(timeout)
    cleanup = deadlines_for(_function_settings(), timeout, Timing(clock=lambda: 0.0)).cleanup
    # 80 % of the time the function may work: an invocation that cancels statements at its
    # work deadline lasts at least that long, so sustained slowness pages before cancellations.
    assert alarm["Threshold"] == round(work * 1000 * 0.8)
    assert alarm["Threshold"] < work * 1000 < cleanup.expires_at * 1000 < timeout * 1000
    assert alarm["Statistic"] == "Maximum"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    row = TEMPLATE["Mappings"]["FunctionTimeout"][str(timeout)]
    assert row["WorkDeadlineMilliseconds"] == round(work * 1000)
    assert row["Milliseconds"] == timeout * 1000


def test_silent_queue_alarm_is_optional_and_on_in_prod() -> None:
    assert "SilentQueueAlarm" not in _alarms(STACK)
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    prod = dict(
        pair.split("=", 1)
        for pair in config["prod"]["global"]["parameters"]["parameter_overrides"].split()
    )
    assert int(prod["SilentQueueAlarmSeconds"]) > 0
    assert "SilentQueueAlarm" in _alarms({**STACK, **prod})
    for seconds in _allowed("SilentQueueAlarmSeconds"):
        if seconds == 0:
            continue
        alarm = _alarms({**STACK, "SilentQueueAlarmSeconds": str(seconds)})["SilentQueueAlarm"]
        assert alarm["MetricName"] == "NumberOfMessagesSent"
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<Queue.QueueName>"}]
        assert int(alarm["Period"]) == seconds
        assert int(alarm["Period"]) % 60 == 0
        assert int(alarm["Period"]) <= 86_400
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
        assert alarm["TreatMissingData"] == "breaching"


DAY = 24 * 3600
# CloudWatch: "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds"
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html);
# below an hour's period, at most 86,400.
MAX_EVALUATION_RANGE = 7 * DAY
MAX_EVALUATION_RANGE_SHORT_PERIODS = DAY


def _queries(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["Id"]: query for query in alarm["Metrics"]}


def _held_queries_are_visible_plus_in_flight(alarm: dict[str, Any], queue: str) -> None:
    queries = _queries(alarm)
    for query_id, metric in (
        ("visible", "ApproximateNumberOfMessagesVisible"),
        ("hidden", "ApproximateNumberOfMessagesNotVisible"),
    ):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"]["MetricName"] == metric
        queue_name = {"Name": "QueueName", "Value": f"<{queue}.QueueName>"}
        assert stat["Metric"]["Dimensions"] == [queue_name]
        # Maximum: a message present at any moment of the period counts, however often it
        # was received (SQS's age metric skips those received three times or more).
        assert stat["Stat"] == "Maximum"
    (returned,) = [q for q in queries.values() if q["ReturnData"]]
    assert returned["Expression"] == "FILL(visible, 0) + FILL(hidden, 0)"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    assert alarm["TreatMissingData"] == "notBreaching"  # an idle empty queue reports nothing


def test_dead_letter_queue_not_empty_alarm_counts_every_message_whatever_its_receives() -> None:
    alarm = _alarms(STACK)["DeadLetterQueueNotEmptyAlarm"]
    _held_queries_are_visible_plus_in_flight(alarm, "DeadLetterQueue")
    assert alarm["EvaluationPeriods"] == 1
    assert {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q} == {300}


# (alarm, queue, days a letter may have lived before it arrived there)
_HELD_ALARMS = {
    # SQS keeps a moved message's first enqueue time: it may have spent the source's retention.
    "DeadLetterHeldAlarm": ("DeadLetterQueue", 4),
    # A move task gives each letter a new enqueue time.
    "ArchiveHeldAlarm": ("ArchiveQueue", 0),
}


@pytest.mark.parametrize("name", _HELD_ALARMS)
def test_held_alarms_page_before_any_letter_can_expire_whatever_its_receives(name: str) -> None:
    queue, days_before = _HELD_ALARMS[name]
    alarm = _alarms(STACK)[name]
    _held_queries_are_visible_plus_in_flight(alarm, queue)
    periods = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
    (period,) = periods
    assert period == 3600
    # Every period of the range must breach: one empty moment means every letter is younger.
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"]
    watched = int(period) * int(alarm["EvaluationPeriods"])
    assert watched == MAX_EVALUATION_RANGE  # the longest CloudWatch allows
    assert days_before * DAY == (_retention("Queue") if days_before else 0)
    left = _retention(queue) - days_before * DAY - watched
    # A letter held that long may expire within `left`: at least 2 days' notice.
    assert left >= 2 * DAY, (name, left)


def test_archive_age_alarm_fires_two_days_before_an_archived_letter_expires() -> None:
    alarm = _alarms(STACK)["ArchiveAgeAlarm"]
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<ArchiveQueue.QueueName>"}]
    assert int(alarm["Threshold"]) == _retention("ArchiveQueue") - 2 * DAY
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_source_expiry_alarm_fires_a_day_before_a_source_message_expires() -> None:
    alarm = _alarms(STACK)["SourceExpiryAlarm"]
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "<Queue.QueueName>"}]
    assert int(alarm["Threshold"]) == _retention("Queue") - DAY
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    # Far above the retry alarm: this one is about losing messages, not about being behind.
    age = _alarms(STACK)["OldestMessageAgeAlarm"]
    assert int(alarm["Threshold"]) > 100 * int(age["Threshold"])


@pytest.mark.parametrize("timeout", _allowed("FunctionTimeoutSeconds"))
def test_metrics_missing_alarm_fires_on_invocations_without_records_received(timeout: int) -> None:
    alarm = _alarms({**STACK, "FunctionTimeoutSeconds": str(timeout)})[
        "FunctionMetricsMissingAlarm"
    ]
    queries = _queries(alarm)
    invocations = queries["invocations"]["MetricStat"]
    assert invocations["Metric"]["Namespace"] == "AWS/Lambda"
    assert invocations["Metric"]["MetricName"] == "Invocations"
    assert invocations["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": "<IngestFunction>"}
    ]
    received = queries["received"]["MetricStat"]
    assert received["Metric"]["Namespace"] == _namespace()
    assert received["Metric"]["MetricName"] == "RecordsReceived"
    dimensions = tuple(sorted(d["Name"] for d in received["Metric"]["Dimensions"]))
    assert dimensions in EMITTED_METRICS["RecordsReceived"]
    assert received["Stat"] == "SampleCount"  # one sample per invocation that flushed
    assert queries["silent"]["Expression"] == (
        "IF(FILL(invocations, 0) >= 1 AND FILL(received, 0) == 0, 1, 0)"
    )
    # Each period at least a timeout long (a minute multiple, 5 minutes at least): an
    # invocation's metrics are stamped when it ends, within one timeout of its start.
    period = int(invocations["Period"])
    assert period == int(received["Period"])
    assert period >= timeout
    assert period % 60 == 0
    assert period == max(300, -(-timeout // 60) * 60)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    assert period * 3 <= MAX_EVALUATION_RANGE_SHORT_PERIODS
    assert alarm["TreatMissingData"] == "notBreaching"


_RETURNED_ALARMS = {
    "PrimaryRecordsReturnedAlarm": "primary",
    "SecondaryRecordsReturnedAlarm": "secondary",
}


@pytest.mark.parametrize("timeout", _allowed("FunctionTimeoutSeconds"))
@pytest.mark.parametrize("window", _allowed("BatchingWindowSeconds"))
def test_records_returned_alarm_pages_on_a_one_target_outage_within_two_receives(
    timeout: int, window: int
) -> None:
    two_targets = {
        **SCENARIOS["cluster and workgroup"].parameters,
        **ALARMS,
        "FunctionTimeoutSeconds": str(timeout),
        "BatchingWindowSeconds": str(window),
    }
    alarms = _alarms(two_targets)
    visibility = _visibility(timeout, window)
    for name, target in _RETURNED_ALARMS.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (_namespace(), "RecordsReturned")
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions == {"Target": target, "service": PSEUDO["AWS::StackName"]}
        assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 60, 1)
        # A record the target keeps refusing is returned on every receive, one visibility
        # timeout apart: its third return lands within 2 x V + window + timeout (+ a minute of
        # polling) of its first, so 3 minutes with returns fit in the range even at a trickle.
        third_return_within = 2 * visibility + window + timeout
        assert alarm["EvaluationPeriods"] * 60 >= third_return_within + 60
        assert alarm["EvaluationPeriods"] == -(-third_return_within // 60) + 1
        assert alarm["DatapointsToAlarm"] == 3
        assert alarm["EvaluationPeriods"] * 60 <= MAX_EVALUATION_RANGE_SHORT_PERIODS
        # A batch that fails once and succeeds on its retry is returned once: never 3 minutes.
        assert alarm["DatapointsToAlarm"] > 1
        assert alarm["TreatMissingData"] == "notBreaching"
    assert "SecondaryRecordsReturnedAlarm" not in _alarms(STACK)


# Lambda's application log levels, most detail first
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
LAMBDA_LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


def _emf_line() -> dict[str, Any]:
    """One metric line exactly as the function's Powertools prints it."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=_namespace(), service=PSEUDO["AWS::StackName"])
    metrics.add_metric(name=str(MetricName.RECORDS_RECEIVED), unit=MetricUnit.Count, value=1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        metrics.flush_metrics()
    (text,) = printed.getvalue().splitlines()
    line: dict[str, Any] = json.loads(text)
    return line


@pytest.mark.parametrize("level", PARAMETERS["LogLevel"]["AllowedValues"])
def test_no_log_level_drops_the_metric_lines(level: str) -> None:
    # Given an EMF line as the function prints it: it carries no "level" key, and "If the
    # "level" value field is invalid or missing, Lambda will assign the log output the level
    # INFO" (the page above).
    line = _emf_line()
    assert "_aws" in line
    assert not {key.lower() for key in line} & {"level", "log_level", "loglevel"}
    lambda_assigns = "INFO"
    # When the stack is deployed with this LogLevel
    function = Evaluator(TEMPLATE, {**STACK, "LogLevel": level}).value(FUNCTION)
    config = function["LoggingConfig"]
    assert config["LogFormat"] == "JSON"  # the format under which Lambda filters by level
    # Then Lambda's filter lets INFO through: only lines above the application level pass
    # ("Lambda only sends application logs at the selected level of detail and lower").
    application = config["ApplicationLogLevel"]
    assert LAMBDA_LEVELS.index(lambda_assigns) >= LAMBDA_LEVELS.index(application), level
    # And Powertools logs at the level asked (it follows Lambda's level when one is set).
    assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == application


# Count alarms: any occurrence is news. (metric, dimensions) -> threshold 1 on Sum per 5 min.
_COUNT_ALARMS = {
    "PrimaryQuotaRejectionsAlarm": ("QuotaRejections", "primary"),
    "SecondaryQuotaRejectionsAlarm": ("QuotaRejections", "secondary"),
    "PrimaryStatementsUnconfirmedAlarm": ("StatementsUnconfirmed", "primary"),
    "SecondaryStatementsUnconfirmedAlarm": ("StatementsUnconfirmed", "secondary"),
    "PrimaryStatementsCancelledAlarm": ("StatementsCancelled", "primary"),
    "SecondaryStatementsCancelledAlarm": ("StatementsCancelled", "secondary"),
    "DeadLetterSendFailuresAlarm": ("DeadLetterSendFailures", None),
    "FunctionErrorsAlarm": ("Errors", None),
    "FunctionThrottlesAlarm": ("Throttles", None),
}


def test_count_alarms_fire_on_the_first_occurrence_with_the_codes_dimensions() -> None:
    two_targets = {**SCENARIOS["cluster and workgroup"].parameters, **ALARMS}
    alarms = _alarms(two_targets)
    for name, (metric, target) in _COUNT_ALARMS.items():
        alarm = alarms[name]
        assert alarm["MetricName"] == metric, name
        assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 1), name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        if alarm["Namespace"] == _namespace():
            dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
            assert tuple(sorted(dimensions)) in EMITTED_METRICS[metric]
            assert dimensions["service"] == PSEUDO["AWS::StackName"]
            assert dimensions.get("Target") == target
        else:
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": "<IngestFunction>"}]
    one_target = _alarms(STACK)
    for name, (_, target) in _COUNT_ALARMS.items():
        if target == "secondary":
            assert name not in one_target


def test_every_alarm_is_accounted_for_by_a_threshold_test() -> None:
    tested = {
        *_COUNT_ALARMS,
        *_HELD_ALARMS,
        *_RETURNED_ALARMS,
        "OldestMessageAgeAlarm",
        "DeadLetterAgeAlarm",
        "DeadLetterArrivalsAlarm",
        "DeadLetterQueueNotEmptyAlarm",
        "ArchiveAgeAlarm",
        "SourceExpiryAlarm",
        "FunctionMetricsMissingAlarm",
        "FunctionDurationAlarm",
        "SilentQueueAlarm",
    }
    every = {name for name, spec in RESOURCES.items() if spec["Type"] == "AWS::CloudWatch::Alarm"}
    assert every == tested


# ---------------------------------------------------------------------------- alarm delivery


def test_alarm_topic_uses_a_key_whose_policy_lets_cloudwatch_publish() -> None:
    stack = Evaluator(TEMPLATE, STACK)
    topic = stack.resource("AlarmTopic")
    key = stack.resource("AlarmTopicKey")
    assert topic is not None
    assert key is not None
    # Not alias/aws/sns: the AWS-managed key's policy cannot grant CloudWatch its use.
    assert topic["Properties"]["KmsMasterKeyId"] == "<AlarmTopicKey>"
    assert topic["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": ALARMS["AlarmEmail"]}
    ]
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s["Sid"]: s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    cloudwatch = statements["CloudWatchAlarmsPublish"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    own_alarms = {
        "StringEquals": {"aws:SourceAccount": PSEUDO["AWS::AccountId"]},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*"},
    }
    assert cloudwatch["Condition"] == own_alarms
    admin = statements["AccountAdministersTheKey"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    policy = stack.resource("AlarmTopicPolicy")
    assert policy is not None
    publish = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    allow = publish["CloudWatchAlarmsPublish"]
    assert (allow["Principal"], allow["Action"]) == (
        {"Service": "cloudwatch.amazonaws.com"},
        "sns:Publish",
    )
    assert allow["Condition"] == own_alarms
    assert policy["Properties"]["Topics"] == ["<AlarmTopic>"]


def test_no_topic_and_no_key_without_an_email() -> None:
    existing = {**PRIMARY_CLUSTER, "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:oncall"}
    stack = Evaluator(TEMPLATE, existing)
    for name in ("AlarmTopic", "AlarmTopicKey", "AlarmTopicKeyAlias", "AlarmTopicPolicy"):
        assert stack.resource(name) is None, name


def test_outputs_give_the_dashboard_and_queue_urls() -> None:
    outputs = Evaluator(TEMPLATE, STACK).value(TEMPLATE["Outputs"])
    assert outputs["DashboardUrl"]["Value"].startswith("https://us-east-1.console.aws.amazon.com/")
    assert outputs["DashboardUrl"]["Value"].endswith("#dashboards:name=<Dashboard>")
    assert outputs["QueueUrl"]["Value"] == "<Queue>"
    assert outputs["DeadLetterQueueUrl"]["Value"] == "<DeadLetterQueue>"
    assert outputs["ArchiveQueueArn"]["Value"] == "<ArchiveQueue.Arn>"


# ---------------------------------------------------------------------------- polish


def test_function_traces_and_logs_json_at_the_chosen_level() -> None:
    assert FUNCTION["Tracing"] == "Active"
    function = Evaluator(TEMPLATE, {**STACK, "LogLevel": "DEBUG"}).value(FUNCTION)
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    # Lambda filters application logs below ApplicationLogLevel; Powertools filters its own.
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert function["Environment"]["Variables"]["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert function["Tags"] == {"project": "sqs-redshift-ingest"}


@pytest.mark.parametrize(("retain", "policy"), [("true", "Retain"), ("false", "Delete")])
def test_log_group_is_kept_when_asked(retain: str, policy: str) -> None:
    group = Evaluator(TEMPLATE, {**STACK, "RetainLogsOnDelete": retain}).resource(
        "FunctionLogGroup"
    )
    assert group is not None
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == (policy, policy)
    # A generated name: a retained group never blocks re-creating a stack of the same name.
    assert "LogGroupName" not in group["Properties"]
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    assert (
        "RetainLogsOnDelete=true" in config["prod"]["global"]["parameters"]["parameter_overrides"]
    )


def test_nothing_of_the_ledger_is_left() -> None:
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    for word in ("Ledger", "LEDGER", "dynamodb", "DYNAMODB"):
        assert word not in text, word


# ---------------------------------------------------------------------------- around it


def test_samconfig_environments_pass_the_templates_parameter_constraints() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    assert {"default", "prod"} <= set(config)
    names = set()
    for env in ("default", "prod"):
        shared = config[env]["global"]["parameters"]
        names.add(shared["stack_name"])
        deploy = config[env]["deploy"]["parameters"]
        # The Transform list includes AWS::LanguageExtensions, a macro: AUTO_EXPAND is needed.
        assert deploy["capabilities"] == "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
        assert deploy["confirm_changeset"] is True
        # `sam deploy` and `sam sync` see the same parameters: they live in the global section
        # and neither command's own section overrides them.
        for command in ("deploy", "sync"):
            assert "parameter_overrides" not in config[env][command]["parameters"], command
            assert config[env][command]["parameters"]["capabilities"] == deploy["capabilities"]
        overrides = dict(pair.split("=", 1) for pair in shared["parameter_overrides"].split())
        for name, value in overrides.items():
            assert name in PARAMETERS, name
            check_parameter(name, PARAMETERS[name], value)
        rules_see = {**overrides, **STACK}
        quota_failures = [f for f in Evaluator(TEMPLATE, rules_see).failed_rules() if "Quota" in f]
        assert quota_failures == []
        assert 'project="sqs-redshift-ingest"' in shared["tags"]
    assert len(names) == 2, "default and prod must be different stacks"
    env_vars = config["default"]["local_invoke"]["parameters"]["env_vars"]
    assert (REPO / env_vars).is_file()


def test_local_env_file_sets_only_variables_the_template_declares() -> None:
    # `sam local invoke --env-vars` silently drops variables the template does not declare.
    local = json.loads((REPO / "local" / "env.json").read_text(encoding="utf-8"))
    variables = local["IngestFunction"]
    declared = set(FUNCTION["Environment"]["Variables"])
    assert set(variables) <= declared, set(variables) - declared
    assert variables["AWS_ENDPOINT_URL_REDSHIFT_DATA"].endswith(":4599")
    settings = load_settings(variables)
    assert [t.name for t in settings.targets] == ["primary"]


def test_local_endpoint_variables_are_absent_from_the_deployed_function() -> None:
    variables = Evaluator(TEMPLATE, STACK).value(FUNCTION["Environment"]["Variables"])
    assert not [name for name in variables if name.startswith("AWS_ENDPOINT_URL")]


def test_every_dead_letter_fits_the_dead_letter_queue() -> None:
    # The function budgets its letters against these two figures (ingest/limits.py).
    from ingest.limits import DEAD_LETTER_MAX_BYTES, SOURCE_MESSAGE_MAX_BYTES

    assert RESOURCES["Queue"]["Properties"]["MaximumMessageSize"] == SOURCE_MESSAGE_MAX_BYTES
    dlq = RESOURCES["DeadLetterQueue"]["Properties"]["MaximumMessageSize"]
    assert dlq == DEAD_LETTER_MAX_BYTES
    assert dlq > SOURCE_MESSAGE_MAX_BYTES
