"""docs/deploy.md's last step, against moto: force one of the stack's alarms into ALARM and see
that CloudWatch says so and where it would notify.

moto stores alarms and their state and accepts SetAlarmState; it does not publish the state
change to SNS (there is no e-mail to receive) and has no alarm history, so the test stops where
moto stops: the alarm is in ALARM, its actions name the topic, and the topic has the e-mail
subscription.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.template.cfn import REPO, Evaluator, load_template

pytestmark = pytest.mark.template

TEMPLATE = load_template()
EMAIL = "oncall@example.com"
STACK = {"PrimaryClusterIdentifier": "analytics", "PrimaryDbUser": "ingest", "AlarmEmail": EMAIL}
# The alarm docs/deploy.md forces: a plain metric alarm every stack has.
PROVED = "DeadLetterSendFailuresAlarm"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def _alarm_properties(topic_arn: str) -> dict[str, Any]:
    """The template's alarm as CloudFormation would create it, the topic's ARN filled in."""
    properties: dict[str, Any] = Evaluator(TEMPLATE, STACK).resource(PROVED)["Properties"]  # type: ignore[index]
    resolve = {"<AlarmTopic>": topic_arn}
    return {
        **properties,
        "AlarmActions": [resolve[action] for action in properties["AlarmActions"]],
        "OKActions": [resolve[action] for action in properties["OKActions"]],
    }


def _deploy_block() -> str:
    """The last code block of docs/deploy.md: the page-arrives check."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    assert blocks, "docs/deploy.md has no bash block"
    last: str = blocks[-1]
    # The guide ends with it: after the block, a few lines of prose and no other section.
    tail = text[text.rindex("```") + 3 :]
    assert "\n#" not in tail
    assert len(tail.strip().splitlines()) <= 12
    return last


def _deploy_command() -> list[str]:
    """The `aws cloudwatch set-alarm-state` command of that block, as the shell splits it."""
    match = re.search(r"aws cloudwatch set-alarm-state.*", _deploy_block().replace("\\\n", " "))
    assert match, "docs/deploy.md's last block has no set-alarm-state command"
    return shlex.split(match[0])


def test_deploy_guide_ends_by_forcing_the_alarm_this_test_proves() -> None:
    block = _deploy_block()
    words = _deploy_command()
    assert words[words.index("--state-value") + 1] == "ALARM"
    # CloudFormation names the alarm <stack>-<logical id>-<suffix>: the guide finds it by prefix.
    assert f'--alarm-name-prefix "$STACK-{PROVED}' in block


def test_a_forced_alarm_is_in_alarm_and_notifies_the_stacks_topic(aws: None) -> None:
    # Given the stack's topic with its e-mail subscription, and one of its alarms
    sns = boto3.client("sns")
    topic = Evaluator(TEMPLATE, STACK).resource("AlarmTopic")
    assert topic is not None
    topic_arn = sns.create_topic(Name="test-stack-AlarmTopic")["TopicArn"]
    for subscription in topic["Properties"]["Subscription"]:
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol=subscription["Protocol"],
            Endpoint=subscription["Endpoint"],
        )
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=f"test-stack-{PROVED}-ABC123", **_alarm_properties(topic_arn)
    )
    (created,) = cloudwatch.describe_alarms(AlarmNamePrefix="test-stack-")["MetricAlarms"]
    assert created["StateValue"] in {"INSUFFICIENT_DATA", "OK"}
    # When the deploy guide's command runs (its arguments, the name filled in)
    words = _deploy_command()
    reason = words[words.index("--state-reason") + 1]
    cloudwatch.set_alarm_state(
        AlarmName=created["AlarmName"], StateValue="ALARM", StateReason=reason
    )
    # Then CloudWatch reports ALARM, and the alarm's actions are the topic the e-mail is on
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[created["AlarmName"]])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"] == reason
    assert alarm["AlarmActions"] == [topic_arn]
    assert alarm["OKActions"] == [topic_arn]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", EMAIL)]
