"""The harness itself: moto and an sshd stand-in instance in one test, both real."""

import subprocess

import pytest

from xal.aws.session import AwsSessionFactory
from xal.config import Settings

pytestmark = pytest.mark.integration


def test_moto_and_ssh_target_work_together(moto_endpoint: str, ssh_target) -> None:
    ec2 = AwsSessionFactory(Settings(aws_endpoint_url=moto_endpoint)).client("ec2")
    key_pair = ec2.create_key_pair(KeyName="xal-harness")
    assert key_pair["KeyName"] == "xal-harness"

    assert ssh_target.host == "127.0.0.1"
    result = subprocess.run(ssh_target.ssh_argv("sudo", "-n", "id", "-un"), capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "root"


def test_containers_trust_the_host_extra_ca_certificates(local_images: dict[str, str]) -> None:
    from xal.ca_certs import CaBundle

    bundle = CaBundle.from_host()
    if not bundle.certificates:
        pytest.skip("this host has no extra CA certificates to carry")
    names = subprocess.run(
        ["docker", "run", "--rm", local_images["base"], "ls", "/usr/local/share/ca-certificates"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(names) == [name for name, _ in bundle.certificates]
    bundle_text = subprocess.run(
        ["docker", "run", "--rm", local_images["base"], "cat", "/etc/ssl/certs/ca-certificates.crt"],
        capture_output=True,
        check=True,
    ).stdout
    for _, pem in bundle.certificates:
        body = pem.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END")[0].strip().splitlines()[1]
        assert body in bundle_text


def test_proxy_guard_blocks_public_http() -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://example.com/", timeout=5)
