"""The first-boot acceptance: boot what was built, log in as its user would, check what they meet.

One spec (:mod:`xal.firstboot.spec`) runs against machines booted from the built image - a
container with systemd as PID 1 in the rehearsal, a temporary EC2 instance for a real AMI - and
checks, over SSH and HTTP only, what the AI-Lab's users meet at the first boot: the forced
password change, JupyterLab started by systemd behind its password, the motd reminder, a fresh
identity, Docker for the Jupyter user, no core dumps.
"""
