"""The topic policies' comments and docs/security.md say what the policies guarantee, and no more: every
action of the account's that can lift a topic's Deny is named in both."""

from __future__ import annotations

import re

import pytest

from tests.support.lambda_env import ROOT
from tests.support.sam_template import transformed_template

# The SNS actions that change a topic's policy or drop it with the topic (sns:CreateTopic then re-creates it).
POLICY_LIFTING = {"sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission", "sns:DeleteTopic"}
# Ways to an inbox that no topic policy governs.
AROUND_THE_TOPIC = {"sqs:SendMessage", "lambda:InvokeFunction", "kms:GenerateDataKey"}
SECURITY_DOC = ROOT / "docs/security.md"


def _topic_policies() -> dict[str, list[dict]]:
    resources = transformed_template()["Resources"]
    return {
        lid: res["Properties"]["PolicyDocument"]["Statement"]
        for lid, res in resources.items()
        if res["Type"] == "AWS::SNS::TopicPolicy"
    }


def _comment_above(resource: str) -> str:
    text = (ROOT / "template.yaml").read_text()
    match = re.search(rf"((?:\n  #[^\n]*)+)\n  {resource}:\n", text)
    assert match, f"{resource} has no comment"
    return " ".join(line.strip(" #") for line in match[1].splitlines())


def _section(doc: str, heading: str) -> str:
    start = doc.index(f"## {heading}\n")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end > 0 else None]


@pytest.mark.parametrize("policy", sorted(_topic_policies()))
def test_the_policy_comment_names_what_can_lift_the_deny(policy: str):
    statements = _topic_policies()[policy]
    account = [s for s in statements if s["Effect"] == "Allow" and "sns:Publish" not in s["Action"]]
    allowed = {a for s in account for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    lifting = allowed & POLICY_LIFTING
    assert lifting == POLICY_LIFTING, "the account manages the topic: CloudFormation needs these"
    comment = _comment_above(policy)
    assert [a for a in sorted(lifting) if a not in comment] == []
    assert "docs/security.md" in comment


def test_the_security_doc_says_who_can_publish_an_event():
    section = _section(SECURITY_DOC.read_text(), "Who can publish an event")
    assert [a for a in sorted(POLICY_LIFTING | AROUND_THE_TOPIC) if f"`{a}" not in section] == []
    for policy in _topic_policies():
        assert f"`{policy}`" in section
