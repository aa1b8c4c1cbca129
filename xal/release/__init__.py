"""Releases: start and follow the release CodeBuild build, write the release notes, update the GitHub release."""
