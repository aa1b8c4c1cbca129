"""Deploy the permanent CloudFormation stacks (WAF, VM bucket, CI and release CodeBuild) via change sets.

Only constants live here, so the CLI can show defaults without importing the AWS code.
"""

DEFAULT_REPOSITORY_URL = "https://github.com/exasol/ai-lab"
DEFAULT_GITHUB_TOKEN_SECRET = "xal/github-token"  # noqa: S105 - a secret's name, not its value
DEFAULT_REGISTRY_SECRET = "Dockerhub"  # noqa: S105 - a secret's name (upstream's; JSON keys User, AccessToken)
