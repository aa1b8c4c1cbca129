"""SSH as a user does it: the real OpenSSH client driven through its prompts (pexpect) for the
interactive parts, paramiko sessions for the rest.

Passwords are only ever typed into prompts (never argv, never a log): pexpect records what the
machine prints, not what is sent, and the prompts that read passwords do not echo them.
"""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pexpect

from xal.firstboot.machine import Machine

MARK = "XAL-FIRSTBOOT-MARK"
# typed as two words so that the echo of the command line never matches the marker itself
MARK_COMMAND = f"echo {MARK}-$((40+2))"
MARK_SEEN = f"{MARK}-42"
OPTIONS = (
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
)
PASSWORD_ONLY = (
    "-o",
    "PubkeyAuthentication=no",
    "-o",
    "PreferredAuthentications=password,keyboard-interactive",
    "-o",
    "NumberOfPasswordPrompts=1",
)


class LoginFailed(Exception):
    """A login went differently from what a user of the image must meet (the message says how)."""


def tail(text: str, lines: int = 12) -> str:
    """The end of a transcript, one line, for a check's message."""
    kept = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


def wait_for_ssh(machine: Machine, timeout: float) -> float:
    """Seconds until the machine's sshd greets (``SSH-2.0-...``); LoginFailed after ``timeout``."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        try:
            with socket.create_connection((machine.host, machine.ssh_port), timeout=5) as conn:
                conn.settimeout(5)
                if conn.recv(64).startswith(b"SSH-"):
                    return time.monotonic() - started
                last = "no SSH greeting"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise LoginFailed(f"SSH on {machine.host}:{machine.ssh_port} did not answer within {timeout:.0f} s ({last})")


def _spawn(machine: Machine, user: str, *options: str) -> tuple[pexpect.spawn, io.StringIO]:
    transcript = io.StringIO()
    argv = [*OPTIONS, *options, "-p", str(machine.ssh_port), f"{user}@{machine.host}"]
    child = pexpect.spawn("ssh", argv, encoding="utf-8", codec_errors="replace", timeout=machine.prompt_timeout)
    child.logfile_read = transcript
    return child, transcript


def _expect(child: pexpect.spawn, transcript: io.StringIO, patterns: list[Any], waiting_for: str) -> int:
    try:
        return child.expect(patterns)
    except pexpect.TIMEOUT:
        raise LoginFailed(f"no {waiting_for} within {child.timeout:.0f} s: {tail(transcript.getvalue())}") from None
    except pexpect.EOF:
        raise LoginFailed(f"connection closed before {waiting_for}: {tail(transcript.getvalue())}") from None


def _type_password(child: pexpect.spawn, transcript: io.StringIO, password: str) -> None:
    index = _expect(child, transcript, [r"[Pp]assword: ?", r"Permission denied \(([^)]*)\)"], "password prompt")
    if index == 1:
        raise LoginFailed(f"the SSH server does not take passwords (it offers only: {child.match.group(1)})")
    child.sendline(password)


@dataclass(frozen=True)
class PasswordChange:
    banner: str  # what the machine printed between the login and the change prompts (the motd)
    transcript: str


def change_expired_password(machine: Machine, user: str, old: str, new: str) -> PasswordChange:
    """Log in with the expired ``old`` password and change it to ``new`` at the forced prompts."""
    child, transcript = _spawn(machine, user, *PASSWORD_ONLY)
    try:
        _type_password(child, transcript, old)
        index = _expect(
            child,
            transcript,
            [r"[Cc]urrent password: ?", r"Permission denied", r"\$ ?$|# ?$"],
            "forced password change",
        )
        if index == 1:
            raise LoginFailed(f"the default password was refused: {tail(transcript.getvalue(), 3)}")
        if index == 2:
            raise LoginFailed("the default password logged in without forcing a change (it is not expired)")
        banner = transcript.getvalue()
        child.sendline(old)
        _expect(child, transcript, [r"[Nn]ew password: ?"], "new-password prompt")
        child.sendline(new)
        _expect(child, transcript, [r"[Rr]etype new password: ?"], "retype prompt")
        child.sendline(new)
        index = _expect(child, transcript, [r"updated successfully", r"BAD PASSWORD|[Ss]orry|failure"], "confirmation")
        if index == 1:
            raise LoginFailed(f"the password change was refused: {tail(transcript.getvalue(), 3)}")
        _expect(child, transcript, [pexpect.EOF], "end of the session")
        return PasswordChange(banner, transcript.getvalue())
    finally:
        child.close(force=True)


def login_banner(machine: Machine, user: str, password: str) -> str:
    """What an interactive password login prints before the shell is ready (the motd)."""
    child, transcript = _spawn(machine, user, *PASSWORD_ONLY, "-tt")
    try:
        _type_password(child, transcript, password)
        child.sendline(MARK_COMMAND)
        index = _expect(child, transcript, [MARK_SEEN, r"Permission denied"], "shell")
        if index == 1:
            raise LoginFailed(f"password login refused: {tail(transcript.getvalue(), 3)}")
        # the typed-ahead command may be echoed before or after the banner: cut at its output
        banner = transcript.getvalue().split(MARK_SEEN)[0].replace(MARK_COMMAND, "")
        child.sendline("exit")
        return banner
    finally:
        child.close(force=True)


def run_interactive(machine: Machine, user: str, password: str, command: str, answers: list[tuple[str, str]]) -> str:
    """Run ``command`` in a login shell and answer its prompts in order (regex, text); the transcript."""
    child, transcript = _spawn(machine, user, *PASSWORD_ONLY, "-tt")
    try:
        _type_password(child, transcript, password)
        child.sendline(MARK_COMMAND)
        _expect(child, transcript, [MARK_SEEN], "shell")
        child.sendline(f"{command}; echo {MARK}-rc=$?")
        for prompt, text in answers:
            index = _expect(child, transcript, [prompt, r"\[sudo\] password for"], f"prompt {prompt!r}")
            if index == 1:  # sudo without NOPASSWD asks for the user's own password first
                child.sendline(password)
                _expect(child, transcript, [prompt], f"prompt {prompt!r}")
            child.sendline(text)
        _expect(child, transcript, [rf"{MARK}-rc=0", rf"{MARK}-rc=\d+"], "end of the command")
        if f"{MARK}-rc=0" not in transcript.getvalue():
            raise LoginFailed(f"{command!r} failed: {tail(transcript.getvalue(), 6)}")
        child.sendline("exit")
        return transcript.getvalue()
    finally:
        child.close(force=True)


def password_session(machine: Machine, user: str, password: str) -> paramiko.SSHClient:
    """An SSH session logged in with ``password`` only; paramiko's AuthenticationException if refused."""
    client = paramiko.SSHClient()
    # a freshly booted machine has keys nobody knows yet: that they are new is what the spec checks
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    client.connect(
        machine.host,
        port=machine.ssh_port,
        username=user,
        password=password,
        look_for_keys=False,
        allow_agent=False,
        timeout=15,
        auth_timeout=machine.prompt_timeout,
    )
    return client


def password_refused(machine: Machine, user: str, password: str) -> bool:
    try:
        password_session(machine, user, password).close()
    except paramiko.AuthenticationException:
        return True
    return False


def key_refused(machine: Machine, user: str, key: Path) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - see password_session
    try:
        client.connect(
            machine.host,
            port=machine.ssh_port,
            username=user,
            key_filename=str(key),
            look_for_keys=False,
            allow_agent=False,
            timeout=15,
        )
    except paramiko.AuthenticationException:
        return True
    finally:
        client.close()
    return False


def host_key(machine: Machine, key_type: str = "ssh-ed25519") -> str:
    """The machine's public host key of ``key_type`` as ``type base64`` (a key exchange, no login)."""
    transport = paramiko.Transport((machine.host, machine.ssh_port))
    try:
        transport.get_security_options().key_types = [key_type]
        transport.start_client(timeout=15)
        key = transport.get_remote_server_key()
        return f"{key.get_name()} {key.get_base64()}"
    finally:
        transport.close()
