"""What the Docker build tags: its version, and latest only when the build may move it."""

from __future__ import annotations

from xal.image.docker import DockerBuildRequest, image_tags


def test_a_release_moves_latest_and_a_test_release_does_not() -> None:
    assert image_tags(DockerBuildRequest(), "7.1.0") == ["7.1.0", "latest"]
    assert image_tags(DockerBuildRequest(tag="rc-1", latest=False), "7.1.0") == ["rc-1"]
