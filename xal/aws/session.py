"""The one place that builds boto3 clients.

Every client gets the same profile, region default, endpoint override and retry policy
(standard mode, bounded attempts), so throttling is survived everywhere alike and a local
emulator endpoint can never be forgotten by one code path. boto3 is imported on first use to
keep ``xal --help`` fast.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from xal.aws.emulator import EMULATOR_CREDENTIALS
from xal.config import Settings
from xal.errors import ExitCode, XalError

if TYPE_CHECKING:
    import boto3


class AwsSessionFactory:
    """Builds and caches boto3 clients per (service, region)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[tuple[str, str], Any] = {}

    @cached_property
    def session(self) -> boto3.Session:
        import boto3
        import botocore.exceptions

        if self.settings.endpoint_is_local:
            # a local emulator: fixed dummy credentials, never a developer's real profile
            return boto3.Session(
                aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                region_name=self.settings.region,
            )
        try:
            return boto3.Session(profile_name=self.settings.aws_profile, region_name=self.settings.region)
        except botocore.exceptions.ProfileNotFound:
            raise XalError(f"AWS profile {self.settings.aws_profile!r} not found", ExitCode.CREDENTIALS) from None

    @cached_property
    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "total_max_attempts": self.settings.max_attempts},
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="xal",
        )

    def client(self, service: str, region: str | None = None) -> Any:
        """A client for ``service`` in ``region`` (default: the configured region)."""
        key = (service, region or self.settings.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service,
                region_name=key[1],
                endpoint_url=self.settings.aws_endpoint_url,
                config=self._config,
            )
        return self._clients[key]
