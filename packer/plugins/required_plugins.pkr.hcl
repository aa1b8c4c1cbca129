# Copied into the build directory only for Packer >= 1.7, followed by `packer init`.
# Each plugin is pinned to the minor version whose sources were checked (see the README, Packer
# versions, and tests/unit/packer/data/specs/): `~> 1.8.0` allows 1.8.x patches, never 1.9.
# xal/packer/plugins.py reads these constraints; the build manifest records what init installed.
packer {
  required_plugins {
    amazon = {
      version = "~> 1.8.0"
      source  = "github.com/hashicorp/amazon"
    }
    ansible = {
      version = "~> 1.1.5"
      source  = "github.com/hashicorp/ansible"
    }
    docker = {
      version = "~> 1.1.0"
      source  = "github.com/hashicorp/docker"
    }
  }
}
