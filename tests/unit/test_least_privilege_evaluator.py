"""The IAM evaluator and the call-to-IAM mapping of the least-privilege test, on plain data."""

from __future__ import annotations

import pytest

from tests.least_privilege.calls import CallMapper, UnmappedOperation
from tests.least_privilege.deployment import deployment
from tests.least_privilege.iam import (
    IamRequest,
    Statement,
    UnsupportedStatement,
    is_allowed,
    unused_grants,
)

TABLE = "arn:aws:dynamodb:eu-north-1:123456789012:table/evsessions-SessionsTable"
ENVIRON = {"SESSIONS_TABLE": "local-sessions", "DEAD_LETTER_QUEUE_URL": "http://q/local-dlq"}


def allow(actions: list[str], resources: list[str]) -> Statement:
    return Statement.from_json({"Effect": "Allow", "Action": actions, "Resource": resources})


def test_nothing_is_allowed_by_default() -> None:
    assert not is_allowed([], IamRequest("dynamodb:GetItem", TABLE))


def test_actions_match_without_case_and_resources_with_it() -> None:
    statements = [allow(["DynamoDB:getitem"], [TABLE])]
    assert is_allowed(statements, IamRequest("dynamodb:GetItem", TABLE))
    assert not is_allowed(statements, IamRequest("dynamodb:GetItem", TABLE.upper()))


def test_a_wildcard_spans_slashes_and_a_question_mark_one_character() -> None:
    statements = [allow(["dynamodb:Query"], [f"{TABLE}/index/*"]), allow(["iot:Publis?"], ["*"])]
    assert is_allowed(statements, IamRequest("dynamodb:Query", f"{TABLE}/index/ByMonth"))
    assert not is_allowed(statements, IamRequest("dynamodb:Query", TABLE))
    assert is_allowed(statements, IamRequest("iot:Publish", "arn:aws:iot:r:a:topic/a/b"))


def test_an_explicit_deny_wins() -> None:
    deny = Statement.from_json({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"})
    assert not is_allowed(
        [allow(["dynamodb:GetItem"], [TABLE]), deny], IamRequest("dynamodb:GetItem", TABLE)
    )


@pytest.mark.parametrize("element", ["NotAction", "NotResource", "Condition", "Principal"])
def test_what_it_cannot_judge_is_refused_not_approved(element: str) -> None:
    raw = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE, element: {}}
    with pytest.raises(UnsupportedStatement):
        Statement.from_json(raw)


def test_every_granted_pair_must_be_used() -> None:
    statements = [allow(["dynamodb:GetItem", "dynamodb:Query"], [TABLE, f"{TABLE}/index/*"])]
    unused = unused_grants(statements, [IamRequest("dynamodb:Query", f"{TABLE}/index/ByMonth")])
    assert [(g.action, g.resource) for g in unused] == [
        ("dynamodb:GetItem", TABLE),
        ("dynamodb:GetItem", f"{TABLE}/index/*"),
        ("dynamodb:Query", TABLE),
    ]


@pytest.fixture(scope="module")
def mapper() -> CallMapper:
    return CallMapper(deployment())


def test_a_transaction_needs_each_items_action_on_the_deployed_table(mapper: CallMapper) -> None:
    items = [
        {"Put": {"TableName": "local-sessions"}},
        {"Update": {"TableName": "local-sessions"}},
        {"ConditionCheck": {"TableName": "local-sessions"}},
    ]
    requests = mapper.requests(
        mapper.functions["ListenerFunction"],
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": items},
        ENVIRON,
    )
    assert [r.action for r in requests] == [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    ]
    assert {r.resource for r in requests} == {TABLE}


def test_an_index_query_is_on_the_index_and_another_table_is_itself(mapper: CallMapper) -> None:
    api = mapper.functions["ApiFunction"]
    (on_index,) = mapper.requests(
        api, "dynamodb", "Query", {"TableName": "local-sessions", "IndexName": "ByMonth"}, ENVIRON
    )
    assert on_index == IamRequest("dynamodb:Query", f"{TABLE}/index/ByMonth")
    (elsewhere,) = mapper.requests(api, "dynamodb", "GetItem", {"TableName": "other"}, ENVIRON)
    assert elsewhere.resource.endswith(":table/other")


def test_a_publish_is_on_its_topic_and_a_queue_call_on_the_queue(mapper: CallMapper) -> None:
    (publish,) = mapper.requests(
        mapper.functions["PublisherFunction"], "iot-data", "Publish", {"topic": "charger/1"}, {}
    )
    assert publish == IamRequest(
        "iot:Publish", "arn:aws:iot:eu-north-1:123456789012:topic/charger/1"
    )
    (depth,) = mapper.requests(
        mapper.functions["ApiFunction"],
        "sqs",
        "GetQueueAttributes",
        {"QueueUrl": "http://q/local-dlq"},
        ENVIRON,
    )
    assert depth.resource == "arn:aws:sqs:eu-north-1:123456789012:evsessions-DeadLetterQueue"


def test_an_operation_without_a_mapping_is_an_error(mapper: CallMapper) -> None:
    with pytest.raises(UnmappedOperation):
        mapper.requests(mapper.functions["ApiFunction"], "s3", "GetObject", {}, ENVIRON)
