# The AI-Lab build: one Ansible provisioner shared by the AMI (amazon-ebs) and the Docker image
# (docker). xal renders the variables into a .pkrvars.json and picks the amazon-ebs source file that
# matches the Packer version (see amazon-ebs/); everything else is valid on Packer 1.6.6 and current.

packer {
  required_version = ">= 1.6.6"
}

variable "asset_id" {
  type        = string
  description = "Identifies everything this release creates; tagged on every AWS resource."
}

variable "ami_name" {
  type        = string
  default     = null
  description = "Name of the AMI, Exasol-AI-Lab-<asset_id> (required for the amazon-ebs source)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for the instance, volumes, AMI and snapshots (carries exa_ai_lab_id)."
}

variable "region" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Extra regions the finished AMI is copied to."
}

variable "instance_type" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "source_ami" {
  type        = string
  default     = null
  description = "Explicit source AMI id; when null the newest AMI matching the filter below is used."
}

variable "source_ami_name_filter" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "source_ami_owners" {
  type        = list(string)
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "root_volume_size_gb" {
  type        = number
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "ec2_endpoint" {
  type        = string
  default     = null
  description = "Custom EC2 endpoint (a local emulator in rehearsals and tests)."
}

# Communicator settings: null means "let Packer decide" (temporary key pair, the instance's address).
# Rehearsals point them at a local sshd container.
variable "ssh_username" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "ssh_host" {
  type    = string
  default = null
}

variable "ssh_port" {
  type    = number
  default = null
}

variable "ssh_keypair_name" {
  type    = string
  default = null
}

variable "ssh_private_key_file" {
  type    = string
  default = null
}

variable "ssh_interface" {
  type        = string
  default     = null
  description = "session_manager: connect through SSM, no inbound rule (current Packer only)."
}

variable "ssh_source_cidrs" {
  type        = list(string)
  default     = []
  description = "Who may reach port 22 of the temporary security group (xal never leaves it open to all)."
}

variable "ssh_source_public_ip" {
  type        = bool
  default     = false
  description = "Current Packer: open port 22 only to this machine's public address, found by Packer."
}

variable "docker_base_image" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "docker_pull" {
  type    = bool
  default = true
}

variable "docker_changes" {
  type        = list(string)
  default     = []
  description = "Dockerfile instructions applied on commit (ENTRYPOINT, VOLUME, EXPOSE, USER, ...)."
}

variable "docker_repository" {
  type        = string
  description = "Default in xal/defaults.py; xal always sets it."
}

variable "docker_tags" {
  type    = list(string)
  default = ["latest"]
}

variable "playbook_file" {
  type = string
}

variable "ansible_config" {
  type        = string
  description = "Path of ansible.cfg (pipelining and SSH settings)."
}

variable "ansible_vars_file" {
  type        = string
  description = "JSON file with the playbook's variables; password hashes travel here, never on argv."
}

variable "manifest_file" {
  type    = string
  default = "packer-manifest.json"
}

locals {
  ansible_env_vars = [
    "ANSIBLE_CONFIG=${var.ansible_config}",
    "ANSIBLE_NOCOLOR=1",
    "ANSIBLE_HOST_KEY_CHECKING=False",
    # Packer 1.6.6's proxy adapter (docker builder) offers only ssh-rsa, which OpenSSH >= 8.8 refuses;
    # the current ansible plugin uses an ECDSA key (>= 1.1.0), for which these options change nothing.
    "ANSIBLE_SSH_ARGS=-o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedAlgorithms=+ssh-rsa -o ControlMaster=auto -o ControlPersist=60s",
    # The proxy adapter serves SFTP by running /usr/lib/sftp-server, which the ubuntu image lacks
    # (packer-plugin-ansible issue #100): copy with the classic scp protocol on OpenSSH >= 9.
    "ANSIBLE_SCP_EXTRA_ARGS=-O",
  ]
}

source "docker" "ai_lab_image" {
  image   = var.docker_base_image
  pull    = var.docker_pull
  commit  = true
  changes = var.docker_changes
}

build {
  name = "xal"

  sources = [
    "source.amazon-ebs.ai_lab",
    "source.docker.ai_lab_image",
  ]

  provisioner "ansible" {
    playbook_file    = var.playbook_file
    user             = var.ssh_username
    use_proxy        = false # ansible connects to the instance directly with Packer's key
    ansible_env_vars = local.ansible_env_vars
    extra_arguments  = ["--extra-vars", "@${var.ansible_vars_file}"]
    # the docker builder has no SSH: keep Packer's proxy adapter and provision as root
    override = {
      ai_lab_image = {
        user      = "root"
        use_proxy = true
      }
    }
  }

  post-processor "docker-tag" {
    only       = ["docker.ai_lab_image"]
    repository = var.docker_repository
    tags       = var.docker_tags
  }

  post-processor "manifest" {
    output     = var.manifest_file
    strip_path = true
    custom_data = {
      asset_id = var.asset_id
    }
  }
}
