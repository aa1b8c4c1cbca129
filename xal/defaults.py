"""Every default a release engineer may want to look up or change, in one place.

The CLI shows these in ``--help``, the request objects start from them, and xal always renders
them into the Packer variables (the templates declare those variables without defaults), so a
value can never differ between what the help says, what Python assumes and what Packer builds.
Nothing here imports anything: any layer may read it.
"""

from __future__ import annotations

# -- AWS ------------------------------------------------------------------------------------------
REGION = "eu-central-1"
AWS_MAX_ATTEMPTS = 8  # botocore standard retry mode, total attempts per call

# value of the exasol:project tag on everything a run creates (upstream's value, its EC2 stack template)
PROJECT_TAG_VALUE = "DataScienceSandbox"

# -- the build machine (AMI build and setup-ec2) ---------------------------------------------------
INSTANCE_TYPE = "t3.medium"
# Ubuntu 24.04 LTS (noble): Python 3.12; the notebook connector needs >= 3.11 (22.04 has 3.10).
# Canonical names its 24.04 AMIs hvm-ssd-gp3 (gp3 root volume), not hvm-ssd like 22.04's.
SOURCE_AMI_NAME_FILTER = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
SOURCE_AMI_OWNERS = ("099720109477",)  # Canonical
ROOT_VOLUME_SIZE_GB = 100
SSH_USERNAME = "ubuntu"
SSH_PORT = 22

# -- what the AI-Lab serves ------------------------------------------------------------------------
JUPYTER_PORT = 49494
# Extra pip index for the notebook packages: PyTorch's CPU-only builds. From PyPI alone torch is the
# CUDA build, which pulls about 2.5 GB of nvidia-* and triton wheels. "none" = PyPI only. The
# playbook's own default (ai_lab_notebooks_extra_index_url) is the same URL (tested).
PIP_EXTRA_INDEX_URL = "https://download.pytorch.org/whl/cpu"

# The documented default Jupyter password: ansible/roles/ai_lab_jupyter/defaults/main.yml holds its
# hash (a unit test checks they agree); XAL_JUPYTER_PASSWORD replaces it at build time.
JUPYTER_PASSWORD = "ailab"  # noqa: S105 - the published default, changed by the user at first login

# -- the first-boot test ---------------------------------------------------------------------------
BOOT_TIMEOUT_SECONDS = 300.0  # until SSH and JupyterLab answer (an EC2 instance needs minutes)

# -- the Docker image ------------------------------------------------------------------------------
DOCKER_REPOSITORY = "exasol/ai-lab"
DOCKER_BASE_IMAGE = "ubuntu:24.04"

# -- the offline rehearsal -------------------------------------------------------------------------
REHEARSAL_COPY_REGIONS = ("us-east-1",)

# -- VM export -------------------------------------------------------------------------------------
MAX_ACTIVE_EXPORTS_PER_REGION = 5  # AWS allows 5 active ExportImage tasks per region
EXPORT_POLL_INITIAL_SECONDS = 15.0
EXPORT_POLL_MAX_SECONDS = 120.0
EXPORT_TIMEOUT_SECONDS = 8 * 3600.0
MIN_PART_SIZE_MIB = 5  # S3's minimum multipart part size
PART_SIZE_MIB = 512

# -- permanent stacks ------------------------------------------------------------------------------
DEPLOY_TIMEOUT_MINUTES = 30.0
BUCKET_DEPLOY_TIMEOUT_MINUTES = 60.0  # CloudFront distributions take long to create
GITHUB_TOKEN_SECRET = "xal/github-token"  # noqa: S105 - a secret's name, not its value
REGISTRY_SECRET = "Dockerhub"  # noqa: S105 - a secret's name (upstream's; JSON keys User, AccessToken)
REPOSITORY_URL = "https://github.com/exasol/ai-lab"

# -- release ---------------------------------------------------------------------------------------
GITHUB_REPOSITORY = "exasol/ai-lab"
GITHUB_API_URL = "https://api.github.com"
RELEASE_POLL_SECONDS = 30.0
RELEASE_TIMEOUT_SECONDS = 5 * 3600.0
