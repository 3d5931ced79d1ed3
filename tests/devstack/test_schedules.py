"""Schedule and ScheduleV2 events are run by the local stack: read from the template as SAM transforms them
(an EventBridge rule, a Scheduler schedule), each at its rate(); what it cannot run is reported."""

from pathlib import Path

import pytest

from devstack.template import load_stack_model
from devstack.template.builders.events import rate_seconds

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Minutes:
    Type: Number
    Default: 5
Resources:
  Tick:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: !Sub "rate(${Minutes} minutes)"
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
        Nightly:
          Type: Schedule
          Properties:
            Schedule: cron(0 3 * * ? *)
        Paused:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
            Enabled: false
"""


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_and_malformed_rates_are_not_rates() -> None:
    assert rate_seconds("cron(0 3 * * ? *)") is None
    assert rate_seconds("rate(minutes)") is None


def test_schedules_are_read_from_the_transformed_template(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return None\n")
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    model = load_stack_model(path, {"Minutes": "2"})
    events = {e.name.removeprefix("Tick"): e for e in model.functions["Tick"].schedule_events}
    assert {name: (e.period_seconds, e.enabled) for name, e in events.items()} == {
        "Every": (120, True),
        "Hourly": (3600, True),
        "Paused": (86400, False),
    }
    assert any("Nightly" in line and "cron(0 3 * * ? *)" in line for line in model.unsupported)
