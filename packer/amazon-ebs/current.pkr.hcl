# amazon-ebs source for Packer >= 1.7 (plugin github.com/hashicorp/amazon).
# Rendered from xal/packer/amazon_ebs.py by scripts/render-packer-sources: edit there, not here.
source "amazon-ebs" "ai_lab" {
  region                     = var.region
  ami_regions                = var.ami_regions
  custom_endpoint_ec2        = var.ec2_endpoint
  skip_credential_validation = var.ec2_endpoint != null
  instance_type              = var.instance_type
  source_ami                 = var.source_ami
  source_ami_filter {
    filters = {
      name                = var.source_ami_name_filter
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = var.source_ami_owners
    most_recent = true
  }
  ami_name        = var.ami_name
  ami_description = "Exasol AI-Lab ${var.asset_id}"
  imds_support    = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  launch_block_device_mappings {
    device_name           = "/dev/sda1"
    volume_size           = var.root_volume_size_gb
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    delete_on_termination = true
  }
  ssh_username                              = var.ssh_username
  ssh_host                                  = var.ssh_host
  ssh_port                                  = var.ssh_port
  ssh_keypair_name                          = var.ssh_keypair_name
  ssh_private_key_file                      = var.ssh_private_key_file
  ssh_interface                             = var.ssh_interface
  temporary_key_pair_type                   = "ed25519"
  temporary_security_group_source_cidrs     = var.ssh_source_cidrs
  temporary_security_group_source_public_ip = var.ssh_source_public_ip
  dynamic "temporary_iam_instance_profile_policy_document" {
    for_each = var.ssh_interface == "session_manager" ? [1] : []
    content {
      Version = "2012-10-17"
      Statement {
        Effect   = "Allow"
        Action   = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
        Resource = ["*"]
      }
    }
  }
  run_tags        = var.tags
  run_volume_tags = var.tags
  tags            = var.tags
  snapshot_tags   = var.tags
}
