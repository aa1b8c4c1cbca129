"""The first-boot spec: what a user of the AMI or a VM image meets at the first boot, checked over
SSH and HTTP only, so the same checks run against a container, a VM and an EC2 instance.

Six checks (seven on a VM), in the order a user meets them (a later check may rely on the login the
first one establishes; without it, it is reported as not run):

1. ``password-change``  the default password forces a change; the old one is refused afterwards,
                        the new one accepted; the build's key no longer logs in
2. ``jupyter-service``  jupyter.service enabled and started by systemd at boot; ``/lab`` answers
                        200; the Jupyter password logs in, a wrong one is refused
3. ``motd-hint``        the login banner asks to change the Jupyter password until
                        ``jupyter server password`` has changed it
4. ``fresh-identity``   host keys and machine-id are not the build's, host keys differ between
                        two instances; no build CA, apt lists, shell history or logs from the build
5. ``docker-access``    the Jupyter user reaches the Docker daemon through the socket
6. ``hardening``        JupyterLab runs as jupyter, not root; core dumps are off
7. ``network``          VMs only (a container's network is Docker's): the default route's NIC was
                        configured by the renderer the image's netplan configuration names

State is read with pytest-testinfra's host API over a paramiko session; the interactive parts
(password prompts) are driven through the real OpenSSH client (:mod:`xal.firstboot.login`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paramiko

from xal.firstboot import jupyter_http
from xal.firstboot.login import (
    LoginFailed,
    change_expired_password,
    host_key,
    key_refused,
    login_banner,
    password_refused,
    password_session,
    run_interactive,
    wait_for_ssh,
)
from xal.firstboot.machine import SpecInput
from xal.firstboot.report import BootObserver, BootReport, CheckResult, Outcome, QuietBootObserver
from xal.secrets import redact, register_secret

JUPYTER_HINT = "jupyter server password"
JUPYTER_USER = "jupyter"


class CheckFailed(Exception):
    """What the user would meet instead of what the check expects."""


@dataclass
class SpecState:
    """What the checks hand on: the login the first one establishes."""

    new_password: str | None = None
    host: Any = None  # testinfra.host.Host over a paramiko session as the OS user
    client: paramiko.SSHClient | None = None
    notes: list[str] = field(default_factory=list)


def new_password() -> str:
    """A password every PAM quality rule accepts, registered so that no output ever shows it."""
    value = f"Xal-{secrets.token_urlsafe(12)}-9"
    register_secret(value)
    return value


def _testinfra_host(client: paramiko.SSHClient, inp: SpecInput) -> Any:
    """testinfra's Host over an already logged-in paramiko session (password logins never go
    through a host spec string, so the password appears in no URL or repr)."""
    from testinfra.backend.paramiko import ParamikoBackend
    from testinfra.host import Host

    backend = ParamikoBackend(f"paramiko://{inp.os_user}@{inp.machine.host}:{inp.machine.ssh_port}")
    backend.client = client  # a cached_property: the session it would open itself
    return Host(backend)


def _run(host: Any, command: str, *args: str, sudo: bool = False) -> str:
    """stdout of a command that must succeed on the machine."""
    if sudo:
        with host.sudo():
            result = host.run(command, *args)
    else:
        result = host.run(command, *args)
    if result.rc != 0:
        raise CheckFailed(f"{result.command!r} failed ({result.rc}): {(result.stderr or result.stdout).strip()[-300:]}")
    return result.stdout


# -- 1 ---------------------------------------------------------------------------------------------
def check_password_change(inp: SpecInput, state: SpecState) -> str:
    machine, user = inp.machine, inp.os_user
    try:
        wait_for_ssh(machine, inp.boot_timeout)
        password = new_password()
        change_expired_password(machine, user, inp.os_password, password)
    except LoginFailed as exc:
        raise CheckFailed(str(exc)) from None
    if not password_refused(machine, user, inp.os_password):
        raise CheckFailed("the old default password still logs in after the change")
    try:
        state.client = password_session(machine, user, password)
    except paramiko.AuthenticationException:
        raise CheckFailed("the new password is refused") from None
    state.new_password = password
    state.host = _testinfra_host(state.client, inp)
    found = []
    if inp.build_key is not None and not key_refused(machine, user, inp.build_key):
        found.append(f"the build key {inp.build_key.name} still logs in as {user}")
    if inp.identity and inp.identity.authorized_keys:
        keys = _run(
            state.host, "cat /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys 2>/dev/null; true", sudo=True
        )
        bodies = {line.split()[1] for line in keys.splitlines() if len(line.split()) > 1}
        leaked = [k for k in inp.identity.authorized_keys if len(k.split()) > 1 and k.split()[1] in bodies]
        if leaked:
            found.append(f"{len(leaked)} authorized key(s) of the build are still installed")
    if found:
        raise CheckFailed("; ".join(found))
    build_key = ", the build key is refused" if inp.build_key else ""
    return f"the default password forced a change; the old password is refused, the new one accepted{build_key}"


# -- 2 ---------------------------------------------------------------------------------------------
def check_jupyter_service(inp: SpecInput, state: SpecState) -> str:
    host = state.host
    service = host.service("jupyter")
    if not service.is_enabled:
        raise CheckFailed("jupyter.service is not enabled (JupyterLab would not start at boot)")
    try:
        status, waited = jupyter_http.wait_for_lab(inp.machine, inp.boot_timeout)
    except jupyter_http.JupyterUnreachable as exc:
        state_line = host.run("systemctl is-active jupyter.service").stdout.strip()
        raise CheckFailed(f"{exc}; jupyter.service is {state_line or 'unknown'}") from None
    if not service.is_running:
        raise CheckFailed("jupyter.service is not active, yet something answers on the Jupyter port")
    shown = _run(host, "systemctl show jupyter.service -p MainPID -p NRestarts --value").split()
    pid, restarts = [*shown, "0", "0"][:2]
    parent = _run(host, f"awk '/^PPid:/ {{print $2}}' /proc/{pid}/status").strip()
    if parent != "1":
        raise CheckFailed(f"JupyterLab (pid {pid}) was not started by systemd (parent pid {parent})")
    if status != 200:
        raise CheckFailed(f"{inp.machine.jupyter_url}/lab answered {status}")
    if jupyter_http.login(inp.machine, inp.jupyter_password) is None:
        raise CheckFailed("JupyterLab refuses the image's Jupyter password")
    if jupyter_http.login(inp.machine, new_password()) is not None:
        raise CheckFailed("JupyterLab accepts a wrong password")
    restarted = f", restarted {restarts} time(s)" if restarts != "0" else ""
    return (
        f"jupyter.service enabled and started by systemd{restarted}; /lab answered 200 after {waited:.1f} s; "
        "the Jupyter password logs in, a wrong one is refused"
    )


# -- 3 ---------------------------------------------------------------------------------------------
def check_motd_hint(inp: SpecInput, state: SpecState) -> str:
    assert state.new_password is not None
    machine, user = inp.machine, inp.os_user
    try:
        banner = login_banner(machine, user, state.new_password)
        hint = next((line.strip() for line in banner.splitlines() if JUPYTER_HINT in line), None)
        if hint is None:
            raise CheckFailed("the login banner does not ask to change the default Jupyter password")
        jupyter_password = new_password()
        answers = [(r"[Ee]nter password: ?", jupyter_password), (r"[Vv]erify password: ?", jupyter_password)]
        run_interactive(machine, user, state.new_password, hint, answers)
        after = login_banner(machine, user, state.new_password)
    except LoginFailed as exc:
        raise CheckFailed(str(exc)) from None
    if JUPYTER_HINT in after:
        raise CheckFailed("the login banner still asks to change the Jupyter password after it was changed")
    return f"the banner shows {hint!r} until the Jupyter password is changed, then no longer"


# -- 4 ---------------------------------------------------------------------------------------------
# Run as root on the machine: everything the build must not have left behind. "From the build"
# means: older than this boot (PID 1's start), so what the first boot itself writes is fine.
LEFTOVERS_SCRIPT = r"""
import glob, json, os, sys
ticks = os.sysconf("SC_CLK_TCK")
btime = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime "))
boot = btime + int(open("/proc/1/stat").read().rsplit(")", 1)[1].split()[19]) / ticks
def old(path):
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_mtime < boot - 1
found = {"logs": [], "apt_lists": [], "history": [], "temporary": [], "ca_dir": [], "ca_bundle": []}
for root, _dirs, files in os.walk("/var/log"):
    for name in files:
        path = os.path.join(root, name)
        if not os.path.islink(path) and os.path.isfile(path) and os.path.getsize(path) > 0 and old(path):
            found["logs"].append(path)
for path in glob.glob("/var/lib/apt/lists/*"):
    if os.path.isfile(path) and not path.endswith("/lock") and old(path):
        found["apt_lists"].append(path)
for home in ["/root", *glob.glob("/home/*")]:
    for name in (".bash_history", ".python_history", ".lesshst", ".viminfo", ".wget-hsts"):
        path = os.path.join(home, name)
        if os.path.exists(path) and old(path):
            found["history"].append(path)
    for name in (".cache", ".ansible"):
        path = os.path.join(home, name)
        if os.path.exists(path) and old(path):
            found["temporary"].append(path)
for path in glob.glob("/tmp/*") + glob.glob("/tmp/.[!.]*") + glob.glob("/var/tmp/*"):
    if old(path) and not path.startswith("/tmp/.X11-unix") and not path.startswith("/tmp/.ICE-unix"):
        found["temporary"].append(path)
if os.path.exists("/usr/local/share/ca-certificates/ai-lab-build"):
    found["ca_dir"].append("/usr/local/share/ca-certificates/ai-lab-build")
store = "/etc/ssl/certs/ca-certificates.crt"
bundle = "".join(open(store).read().split()) if os.path.exists(store) else ""
for index, body in enumerate(json.loads(sys.argv[1])):
    if body and body in bundle:
        found["ca_bundle"].append(f"build CA #{index + 1}")
print(json.dumps({"boot": boot, "found": found}))
"""
LEFTOVER_NAMES = {
    "logs": "log files from the build",
    "apt_lists": "apt lists from the build",
    "history": "shell histories from the build",
    "temporary": "temporary files and caches from the build",
    "ca_dir": "the build's CA certificate folder",
    "ca_bundle": "the build's CA in the system CA bundle",
}


def _key_bodies(lines: list[str] | tuple[str, ...]) -> dict[str, str]:
    return {parts[1]: parts[0] for parts in (line.split() for line in lines) if len(parts) > 1}


def _pem_body(pem: str) -> str:
    """The base64 of a PEM certificate without its armour and line breaks."""
    return "".join(line for line in pem.strip().splitlines() if line and not line.startswith("-----"))


def check_fresh_identity(inp: SpecInput, state: SpecState) -> str:
    host, identity = state.host, inp.identity
    problems: list[str] = []
    keys = _key_bodies(_run(host, "cat /etc/ssh/ssh_host_*_key.pub").splitlines())
    if not keys:
        problems.append("the machine has no SSH host keys")
    if identity:
        shared = sorted(kind for body, kind in keys.items() if body in _key_bodies(identity.host_keys))
        if shared:
            problems.append(f"SSH host key(s) {', '.join(shared)} are the build machine's")
    if inp.sibling is not None:
        sibling = (inp.sibling_host_key or host_key(inp.sibling)).split()[1]
        if sibling in keys:
            problems.append(f"{inp.machine.name} and {inp.sibling.name} have the same SSH host key")
    machine_id = host.file("/etc/machine-id").content_string.strip()
    if not machine_id:
        problems.append("/etc/machine-id is empty after boot")
    elif identity and machine_id == identity.machine_id:
        problems.append("/etc/machine-id is the build machine's")
    bodies = [_pem_body(pem) for pem in (identity.ca_certificates if identity else ())]
    leftovers = json.loads(_run(host, "python3 -c %s %s", LEFTOVERS_SCRIPT, json.dumps(bodies), sudo=True))
    for kind, paths in leftovers["found"].items():
        if paths:
            shown = ", ".join(paths[:3]) + (f" (+{len(paths) - 3})" if len(paths) > 3 else "")
            problems.append(f"{LEFTOVER_NAMES[kind]}: {shown}")
    if problems:
        raise CheckFailed("; ".join(problems))
    compared = "the build's and the other instance's" if identity and inp.sibling else "the build's" if identity else ""
    against = f", unlike {compared}" if compared else ""
    leftovers_none = "no build CA, apt lists, shell history, caches or logs from the build"
    return f"new SSH host keys and machine-id{against}; {leftovers_none}"


# -- 5 ---------------------------------------------------------------------------------------------
def check_docker_access(_inp: SpecInput, state: SpecState) -> str:
    host = state.host
    with host.sudo(JUPYTER_USER):
        info = host.run("docker info")
    if info.rc != 0:  # the line about the daemon says why (permission denied, no daemon), not the template's
        lines = [line.strip() for line in (info.stderr + info.stdout).splitlines() if line.strip()]
        reason = next((line for line in lines if "daemon" in line.lower()), lines[0] if lines else f"exit {info.rc}")
        raise CheckFailed(f"'docker info' as {JUPYTER_USER} failed: {reason}")
    socket = _run(host, "stat -L -c '%U:%G %a' /var/run/docker.sock").strip()
    version = next(
        (line.split(":", 1)[1].strip() for line in info.stdout.splitlines() if "Server Version:" in line), "?"
    )
    return f"'docker info' as {JUPYTER_USER} reaches Docker {version} (socket {socket})"


# -- 6 ---------------------------------------------------------------------------------------------
def check_hardening(_inp: SpecInput, state: SpecState) -> str:
    host = state.host
    pid = _run(host, "systemctl show jupyter.service -p MainPID --value").strip()
    if pid in ("", "0"):
        raise CheckFailed("JupyterLab is not running")
    problems = []
    uid = _run(host, f"awk '/^Uid:/ {{print $2}}' /proc/{pid}/status").strip()
    expected = str(host.user(JUPYTER_USER).uid)
    if uid != expected:
        owner = "root" if uid == "0" else f"uid {uid}"
        problems.append(f"JupyterLab runs as {owner}, not {JUPYTER_USER}")
    limits = _run(host, f"grep 'Max core file size' /proc/{pid}/limits", sudo=True).split()
    if limits[4:6] != ["0", "0"]:
        problems.append(f"JupyterLab may dump core (limit {' '.join(limits[4:6])})")
    login_limit = _run(host, "ulimit -Hc").strip()
    if login_limit != "0":
        problems.append(f"a login may dump core (hard limit {login_limit})")
    in_container = host.run("systemd-detect-virt --container").rc == 0
    if in_container:  # /proc/sys is the host kernel's: check what the image configures
        configured = host.run("grep -hs '^fs.suid_dumpable' /etc/sysctl.conf /etc/sysctl.d/*.conf").stdout
        if not configured.split() or configured.split()[-1] != "0":
            problems.append("fs.suid_dumpable = 0 is not configured")
        kernel = "configured (a container shares the host's kernel)"
    else:
        live = _run(host, "cat /proc/sys/fs/suid_dumpable").strip()
        if live != "0":
            problems.append(f"fs.suid_dumpable is {live}")
        kernel = "0"
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"JupyterLab runs as {JUPYTER_USER} with core limit 0; login core limit 0; fs.suid_dumpable {kernel}"


# -- 7 ---------------------------------------------------------------------------------------------
NETWORKD, NETWORK_MANAGER = "networkd", "NetworkManager"


def _netplan_renderer(host: Any) -> str:
    """The renderer the image's netplan configuration names (netplan's default: networkd)."""
    configs = host.run("ls /etc/netplan/ /lib/netplan/ /run/netplan/ 2>/dev/null").stdout.split()
    if not any(name.endswith(".yaml") for name in configs):
        raise CheckFailed("the image has no netplan configuration (/etc/netplan has no .yaml): nothing it was built "
                          "with configures its network")  # fmt: skip
    with host.sudo():  # the configuration is root's only (mode 600)
        renderer = host.run("netplan get renderer").stdout.strip()
    return renderer if renderer and renderer != "null" else NETWORKD


def _configured_by_network_manager(host: Any, device: str) -> str:
    shown = host.run("nmcli -t -f GENERAL.STATE,GENERAL.CONNECTION device show %s", device)
    if shown.rc == 127:
        raise CheckFailed("the image's netplan hands the network to NetworkManager, which is not installed")
    fields = dict(line.split(":", 1) for line in shown.stdout.splitlines() if ":" in line)
    state = fields.get("GENERAL.STATE", (shown.stderr or "unknown").strip())
    if shown.rc != 0 or not state.startswith("100"):
        raise CheckFailed(
            f"{device} carries the default route, but NetworkManager (the netplan renderer) has it {state}"
        )
    return f"NetworkManager (connection {fields.get('GENERAL.CONNECTION', '?')!r})"


def _configured_by_networkd(host: Any, device: str) -> str:
    shown = host.run("networkctl status --no-pager %s", device)
    state = next((line.split(":", 1)[1].strip() for line in shown.stdout.splitlines() if "State:" in line), "")
    if shown.rc != 0 or not state.endswith("(configured)"):
        raise CheckFailed(
            f"{device} carries the default route, but systemd-networkd (the netplan renderer) has it "
            f"{state or 'unmanaged'}: something else configured it"
        )
    return "systemd-networkd"


def check_network(_inp: SpecInput, state: SpecState) -> str:
    host = state.host
    renderer = _netplan_renderer(host)
    routes = json.loads(_run(host, "ip -j route show default") or "[]")
    if not routes:
        links = "; ".join(_run(host, "ip -br address").split("\n")).strip("; ")
        raise CheckFailed(f"no default route (netplan renderer {renderer}; interfaces: {links})")
    device, gateway = routes[0].get("dev", "?"), routes[0].get("gateway", "?")
    if renderer == NETWORK_MANAGER:
        by = _configured_by_network_manager(host, device)
    elif renderer == NETWORKD:
        by = _configured_by_networkd(host, device)
    else:
        raise CheckFailed(f"the image's netplan names the renderer {renderer!r}, which xal cannot check")
    address = next(iter(json.loads(_run(host, "ip -j -4 address show dev %s", device) or "[{}]")), {})
    inet = next((a.get("local") for a in address.get("addr_info", []) if a.get("family") == "inet"), "no IPv4")
    return f"{device} ({inet}) has the default route via {gateway}, configured by {by} as the image's netplan says"


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[SpecInput, SpecState], str]
    needs_login: bool = True
    vm_only: bool = False  # a container's network, kernel and firmware are its host's


SPEC: tuple[Check, ...] = (
    Check("password-change", "SSH password login forces a password change", check_password_change, False),
    Check("jupyter-service", "JupyterLab started by systemd, behind its password", check_jupyter_service),
    Check("motd-hint", "the login banner asks to change the Jupyter password", check_motd_hint),
    Check("fresh-identity", "new host keys and machine-id, nothing left from the build", check_fresh_identity),
    Check("docker-access", "the Jupyter user can use Docker", check_docker_access),
    Check("hardening", "JupyterLab not as root, no core dumps", check_hardening),
    Check("network", "the network is up as the image's netplan configures it", check_network, vm_only=True),
)
CHECK_NAMES = tuple(check.name for check in SPEC if not check.vm_only)  # what a container boot checks
VM_CHECK_NAMES = tuple(check.name for check in SPEC)  # what a VM (a disk image, an instance) boot checks


def run_spec(inp: SpecInput, observer: BootObserver | None = None, target: str | None = None) -> BootReport:
    """Run every check against ``inp.machine``; the report says which passed (it never raises for a
    failed check: the caller decides, see :class:`xal.firstboot.report.BootTestFailed`)."""
    observer = observer or QuietBootObserver()
    register_secret(inp.os_password)
    register_secret(inp.jupyter_password)
    report = BootReport(target or inp.machine.name)
    state = SpecState()
    try:
        for check in (c for c in SPEC if inp.vm or not c.vm_only):
            observer.check_started(check.name, check.title)
            started = time.monotonic()
            if check.needs_login and state.host is None:
                outcome, detail = Outcome.NOT_RUN, "needs a login, which password-change did not give"
            else:
                try:
                    outcome, detail = Outcome.PASSED, check.run(inp, state)
                except (CheckFailed, LoginFailed, jupyter_http.JupyterUnreachable) as exc:
                    outcome, detail = Outcome.FAILED, str(exc)
                except Exception as exc:  # reported as the check's failure: the other checks still run
                    outcome, detail = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
            result = CheckResult(check.name, check.title, outcome, redact(detail), round(time.monotonic() - started, 2))
            report.results.append(result)
            observer.check_finished(result)
    finally:
        if state.client is not None:
            state.client.close()
    return report
