"""Image builds: the AMI and the Docker image from the same Packer template and playbook."""
