"""AWS access: every boto3 client comes from :mod:`xal.aws.session`."""
