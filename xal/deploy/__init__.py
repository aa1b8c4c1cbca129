"""Deploy the permanent CloudFormation stacks (WAF, VM bucket, CI and release CodeBuild) via change sets."""
