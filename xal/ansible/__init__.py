"""Running the playbooks of ``ansible/`` against a host, with a live task display."""
