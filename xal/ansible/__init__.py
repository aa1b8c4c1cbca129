"""Running the playbooks of ``ansible/`` against a host; progress goes to an injected observer."""
