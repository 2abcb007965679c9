"""Invariants of template.yaml: queue timing, event source, concurrency, IAM scope, dashboard."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import pytest

from ingest.config import load_settings
from ingest.telemetry import MetricName
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
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift/ingest-AbC123"
SECRET_2 = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift/mirror-XyZ789"
WORKGROUP_ID = "8f3c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
WORKGROUP_ID_2 = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"
CLUSTER_ARN = "arn:aws:redshift:us-east-1:123456789012:cluster:{}"
WORKGROUP_ARN = "arn:aws:redshift-serverless:us-east-1:123456789012:workgroup/{}"
DBUSER_ARN = "arn:aws:redshift:us-east-1:123456789012:dbuser:{}/{}"
DBNAME_ARN = "arn:aws:redshift:us-east-1:123456789012:dbname:{}/{}"


def _allowed(name: str) -> list[int]:
    return [int(value) for value in PARAMETERS[name]["AllowedValues"]]


# ---------------------------------------------------------------------------- queue timing


def test_visibility_timeout_is_six_function_timeouts_plus_the_window_for_every_choice() -> None:
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
            assert visibility == 6 * timeout + window, (timeout, window)
            assert visibility <= SQS_MAX_VISIBILITY_TIMEOUT
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
    dlq = RESOURCES["DeadLetterQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["DeadLetterQueue", "Arn"]
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert PARAMETERS["MaxReceiveCount"]["MinValue"] >= 5
    assert PARAMETERS["MaxReceiveCount"]["Default"] >= 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    # A redriven message keeps its enqueue time: the DLQ must outlive the source's retention.
    assert queue["MessageRetentionPeriod"] < dlq["MessageRetentionPeriod"]
    # The function dead-letters poison records itself, to the same queue.
    assert FUNCTION["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"] == {
        "Ref": "DeadLetterQueue"
    }


def test_queues_are_encrypted_and_refuse_plain_http() -> None:
    for name in ("Queue", "DeadLetterQueue"):
        assert RESOURCES[name]["Properties"]["SqsManagedSseEnabled"] is True
    policy = RESOURCES["QueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "Queue"}, {"Ref": "DeadLetterQueue"}]
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
    concurrency = PARAMETERS["MaximumConcurrency"]
    assert concurrency["MinValue"] >= 2  # Lambda's own floor for MaximumConcurrency
    # One statement in flight per target per invocation: the cap bounds active statements,
    # which must stay under the Data API's 500 per cluster or workgroup.
    assert concurrency["MaxValue"] < 500


def test_reserved_concurrency_is_at_least_the_event_source_maximum() -> None:
    reserved = FUNCTION["ReservedConcurrentExecutions"]
    maximum = EVENT["ScalingConfig"]["MaximumConcurrency"]
    if isinstance(reserved, int):
        assert reserved >= PARAMETERS["MaximumConcurrency"]["MaxValue"]
    else:
        # The same parameter: equal for every value CloudFormation accepts.
        assert reserved == maximum


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
    assert FUNCTION["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionLogGroup"}}
    group = RESOURCES["FunctionLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_powertools_settings_name_the_dashboards_namespace_and_service() -> None:
    variables = Evaluator(TEMPLATE, PRIMARY_CLUSTER).value(FUNCTION["Environment"]["Variables"])
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
    ledger: bool = False


PRIMARY_CLUSTER = {"PrimaryClusterIdentifier": "analytics", "PrimaryDbUser": "ingest"}

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
        ledger=True,
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
        ledger=True,
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
    stack = Evaluator(TEMPLATE, scenario.parameters)
    assert stack.failed_rules() == []
    # When CloudFormation resolves the function's environment
    variables = stack.value(FUNCTION["Environment"]["Variables"])
    # Then REDSHIFT_TARGETS is exactly the intended targets, and the code's own loader agrees
    assert json.loads(variables["REDSHIFT_TARGETS"]) == scenario.targets
    assert ("LEDGER_TABLE" in variables) is scenario.ledger
    settings = load_settings(
        {
            **variables,
            "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        }
    )
    assert [t.name for t in settings.targets] == [t["name"] for t in scenario.targets]
    assert settings.table == "public.appsflyer_events"
    assert (stack.resource("LedgerTable") is not None) is scenario.ledger


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_role_grants_only_scoped_resources(scenario: Scenario) -> None:
    stack = Evaluator(TEMPLATE, scenario.parameters)
    role = stack.resource("FunctionRole")
    assert role is not None
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = _statements(role)
    granted: set[tuple[str, str]] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions, resources = _as_list(statement["Action"]), _as_list(statement["Resource"])
        assert all("*" not in action for action in actions), actions
        if resources == ["*"]:
            # Only where IAM has no resource to name: the Data API's statement IDs, limited to
            # the statements this role submitted.
            assert sorted(actions) == [
                "redshift-data:CancelStatement",
                "redshift-data:DescribeStatement",
                "redshift-data:GetStatementResult",
            ]
            assert statement["Condition"] == {
                "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
            }
            continue
        for resource in resources:
            assert "*" not in resource, (actions, resource)
            granted.update((action, resource) for action in actions)

    def on(action: str) -> set[str]:
        return {resource for granted_action, resource in granted if granted_action == action}

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
    ledger_actions = {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
    }
    expected_ledger = (
        {(a, "<LedgerTable.Arn>") for a in ledger_actions} if scenario.ledger else set()
    )
    assert {g for g in granted if g[0].startswith("dynamodb:")} == expected_ledger
    every_action = {action for action, _ in granted}
    assert every_action <= {
        *credential_actions,
        *ledger_actions,
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
        ("TargetTable", "appsflyer_events"),  # not schema-qualified
        ("MaximumConcurrency", "1"),
        ("BatchSize", "10001"),
    ],
)
def test_parameters_refuse_values_that_would_break_json_or_widen_iam(name: str, value: str) -> None:
    with pytest.raises(ParameterError):
        Evaluator(TEMPLATE, {**PRIMARY_CLUSTER, name: value})


def test_ledger_table_matches_what_the_code_reads_and_writes() -> None:
    ledger = RESOURCES["LedgerTable"]
    assert ledger["Condition"] == "HasSecondary"
    table = ledger["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "message_id", "KeyType": "HASH"},
        {"AttributeName": "target", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "message_id": "S",
        "target": "S",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True


# ---------------------------------------------------------------------------- dashboard


def _namespace() -> str:
    namespace: str = TEMPLATE["Mappings"]["Constants"]["Metrics"]["Namespace"]
    return namespace


def _dashboard_body() -> tuple[str, dict[str, Any]]:
    text, variables = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return text, variables


def _dashboard() -> dict[str, Any]:
    text, _ = _dashboard_body()
    stack = Evaluator(TEMPLATE, PRIMARY_CLUSTER)
    body: dict[str, Any] = json.loads(stack.value({"Fn::Sub": [text, _dashboard_body()[1]]}))
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


# Dimensions per metric as the code emits them (ingest/telemetry.py); service is Powertools'.
_CODE_DIMENSIONS = {
    MetricName.RECORDS_RECEIVED: ("service",),
    MetricName.RECORDS_RETRIED: ("service",),
    MetricName.DEAD_LETTER_SEND_FAILURES: ("service",),
    MetricName.LEDGER_ERRORS: ("service",),
    MetricName.ROWS_WRITTEN: ("Target", "service"),
    MetricName.STATEMENTS_SUBMITTED: ("Target", "service"),
    MetricName.STATEMENTS_CANCELLED: ("Target", "service"),
    MetricName.QUOTA_REJECTIONS: ("Target", "service"),
    MetricName.THROTTLES: ("Target", "service"),
    MetricName.BISECTION_STEPS: ("Target", "service"),
    MetricName.STATEMENT_DURATION: ("Target", "service"),
    MetricName.RECORDS_DEAD_LETTERED: ("Reason", "service"),
}


def test_dashboard_shows_exactly_the_metrics_the_code_emits() -> None:
    ours = [shown for shown in _shown() if shown.namespace == _namespace()]
    on_dashboard = {shown.metric for shown in ours}
    emitted = {str(member) for member in MetricName}
    assert on_dashboard - emitted == set(), "the dashboard shows metrics the code never emits"
    assert emitted - on_dashboard == set(), "the code emits metrics the dashboard does not show"


def test_dashboard_queries_each_metric_with_the_dimensions_it_is_emitted_with() -> None:
    assert set(_CODE_DIMENSIONS) == set(MetricName), "add the new metric's dimensions here"
    for shown in _shown():
        if shown.namespace == _namespace():
            expected = tuple(sorted(_CODE_DIMENSIONS[MetricName(shown.metric)]))
            assert shown.dimensions == expected, shown


def test_dashboard_shows_statement_duration_percentiles_and_dead_letters_per_reason() -> None:
    shown = [s for s in _shown() if s.namespace == _namespace()]
    duration_stats = {s.stat for s in shown if s.metric == MetricName.STATEMENT_DURATION}
    assert {"p50", "p99"} <= duration_stats
    (per_reason,) = [s for s in shown if s.metric == MetricName.RECORDS_DEAD_LETTERED]
    assert per_reason.dimensions == (
        "Reason",
        "service",
    )  # SEARCH: new reasons appear by themselves


def test_dashboard_shows_the_queues_and_the_function() -> None:
    aws = {(s.namespace, s.metric) for s in _shown()}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
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
    assert queues == {"<Queue.QueueName>", "<DeadLetterQueue.QueueName>"}


# ---------------------------------------------------------------------------- alarms, outputs


def test_alarms_cover_the_dead_letter_queue_queue_age_quota_and_errors() -> None:
    stack = Evaluator(TEMPLATE, {**PRIMARY_CLUSTER, "AlarmEmail": "ops@example.com"})
    alarms = {
        name: stack.resource(name)
        for name, spec in RESOURCES.items()
        if spec["Type"] == "AWS::CloudWatch::Alarm"
    }
    watched = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in alarms.values()
        if a is not None
    }
    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        (_namespace(), MetricName.QUOTA_REJECTIONS),
        ("AWS/Lambda", "Errors"),
    }
    dlq = alarms["DeadLetterQueueNotEmptyAlarm"]
    assert dlq is not None
    assert dlq["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": "<DeadLetterQueue.QueueName>"}
    ]
    assert dlq["Properties"]["Threshold"] == 1
    age = alarms["OldestMessageAgeAlarm"]
    assert age is not None
    assert age["Properties"]["Threshold"] == str(
        PARAMETERS["OldestMessageAgeAlarmSeconds"]["Default"]
    )
    for alarm in alarms.values():
        if alarm is not None:
            assert alarm["Properties"]["AlarmActions"] == ["<AlarmTopic>"]
            assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    # A secondary target gets its own quota alarm.
    assert stack.resource("SecondaryQuotaRejectionsAlarm") is None
    two = Evaluator(TEMPLATE, SCENARIOS["cluster and workgroup"].parameters)
    assert two.resource("SecondaryQuotaRejectionsAlarm") is not None


def test_alarm_topic_is_optional_and_an_existing_one_can_be_used() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:oncall"
    quiet = Evaluator(TEMPLATE, PRIMARY_CLUSTER)
    assert quiet.resource("AlarmTopic") is None
    alarm = quiet.resource("FunctionErrorsAlarm")
    assert alarm is not None
    assert alarm["Properties"]["AlarmActions"] == []
    existing = Evaluator(TEMPLATE, {**PRIMARY_CLUSTER, "AlarmTopicArn": topic})
    alarm = existing.resource("FunctionErrorsAlarm")
    assert alarm is not None
    assert alarm["Properties"]["AlarmActions"] == [topic]


def test_outputs_give_the_dashboard_and_queue_urls() -> None:
    outputs = Evaluator(TEMPLATE, PRIMARY_CLUSTER).value(TEMPLATE["Outputs"])
    assert outputs["DashboardUrl"]["Value"].startswith("https://us-east-1.console.aws.amazon.com/")
    assert outputs["DashboardUrl"]["Value"].endswith("#dashboards:name=<Dashboard>")
    assert outputs["QueueUrl"]["Value"] == "<Queue>"
    assert outputs["DeadLetterQueueUrl"]["Value"] == "<DeadLetterQueue>"


# ---------------------------------------------------------------------------- around it


def test_samconfig_environments_pass_the_templates_parameter_constraints() -> None:
    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    assert {"default", "prod"} <= set(config)
    names = set()
    for env in ("default", "prod"):
        names.add(config[env]["global"]["parameters"]["stack_name"])
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["confirm_changeset"] is True
        for pair in deploy.get("parameter_overrides", "").split():
            name, value = pair.split("=", 1)
            assert name in PARAMETERS, name
            check_parameter(name, PARAMETERS[name], value)
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
    variables = Evaluator(TEMPLATE, PRIMARY_CLUSTER).value(FUNCTION["Environment"]["Variables"])
    assert not [name for name in variables if name.startswith("AWS_ENDPOINT_URL")]
