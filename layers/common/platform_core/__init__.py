"""Code shared by every function of the platform (deployed as the CommonLayer Lambda layer).

Kept deliberately small: configuration, the event envelope, problem responses,
the stream outbox, the SQS inbox and the DynamoDB transition helper.
Modules import their heavier dependencies lazily to keep cold starts short.
"""

# Every function that imports platform_core registers what SnapStart must renew after a restore.
from platform_core import snapstart as _snapstart  # noqa: F401
