"""Who is calling AWS, for the ``exasol:owner`` tag (upstream: ``AWS_USER_NAME`` or ``iam.get_user``).

``sts:GetCallerIdentity`` needs no permission and works under roles (where ``iam:GetUser`` fails,
which is why upstream's CodeBuild sets ``AWS_USER_NAME``). Looked up once per process, before the
first resource is created; a failed lookup leaves the tag at ``unknown`` rather than failing a build.
"""

from __future__ import annotations

import logging
import os

from xal import naming
from xal.aws.errors import describe_error
from xal.aws.session import AwsSessionFactory

log = logging.getLogger(__name__)


def name_of(arn: str) -> str:
    """``arn:aws:iam::1:user/alice`` -> alice; ``arn:aws:sts::1:assumed-role/Role/session`` -> Role/session."""
    resource = arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    return rest or kind


def resolve_owner(factory: AwsSessionFactory) -> str:
    """The owner tag's value: ``AWS_USER_NAME``, else the caller identity (remembered in naming)."""
    if os.environ.get(naming.OWNER_ENV) or naming.owner() != naming.UNKNOWN_OWNER:
        return naming.owner()
    try:
        arn = factory.client("sts").get_caller_identity()["Arn"]
    except Exception as exc:  # a label only: never fail a run because of it
        log.info("caller identity unknown (%s); owner tag stays %s", describe_error(exc), naming.UNKNOWN_OWNER)
        return naming.owner()
    naming.set_owner(name_of(arn))
    return naming.owner()
