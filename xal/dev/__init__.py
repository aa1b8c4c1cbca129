"""Development commands: a throw-away EC2 instance and the playbooks against an existing host."""
