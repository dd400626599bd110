"""A private Dovecot IMAP server for tests: the real ``imap`` binary, preauthenticated over a pipe.

Each IMAP session runs Dovecot's ``imap`` process on its own stdin/stdout
(``imaplib.IMAP4_stream``), as ``ssh host /usr/lib/dovecot/imap`` does. That is
the IMAP server code a Dovecot daemon hands a connection to after login; what
the pipe leaves out (the master process, login and auth processes, a TCP
port) never touches the Maildir. So: no ports, no system services, nothing
read from /etc/dovecot, about 20 ms per session, and nothing to stop at
teardown beyond logging out.

Root: Dovecot refuses mail access as root ("Mail access not allowed for
root"), and CI runs the tests as root. There the ``imap`` process runs in a
user namespace (``unshare --user``) as an ordinary uid that is root outside,
so it reads and writes the files the engine wrote as root, just as a user's
own Dovecot serves the Maildir that the same user's daemon writes.
"""

from __future__ import annotations

import imaplib
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LIBEXEC_DIRS = ("/usr/lib/dovecot", "/usr/libexec/dovecot", "/usr/local/libexec/dovecot")
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"  # dovecot lives in sbin, often not on a user's PATH
NS_ID = 1000  # the uid/gid the imap process has inside its user namespace (root only)
USER = "alex"


class DovecotUnavailable(RuntimeError):
    """Dovecot cannot run here (not installed, or no way to run it as root)."""

    def __init__(self, why: str) -> None:
        super().__init__(f"{why} (Debian/Ubuntu: apt-get install dovecot-imapd)")


@dataclass(frozen=True)
class Dovecot:
    """One private Dovecot user: ``maildir`` is its mail, served as Maildir++."""

    home: Path
    maildir: Path
    version: str
    config: Path
    log: Path
    command: str  # the shell command IMAP4_stream runs for one session

    def connect(self) -> imaplib.IMAP4:
        """A new preauthenticated IMAP session (state AUTH)."""
        try:
            return imaplib.IMAP4_stream(self.command)
        except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError) as exc:
            raise RuntimeError(f"dovecot imap did not start: {exc}\n{self.log_text()}") from None

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4]:
        imap = self.connect()
        try:
            yield imap
        finally:
            imap.logout()  # imaplib swallows errors here; the process is reaped either way

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no dovecot log)"


def dovecot_binary() -> str:
    path = shutil.which("dovecot", path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")
    if path is None:
        raise DovecotUnavailable("the dovecot binary is not installed")
    return path


def dovecot_version(binary: str) -> str:
    """``2.3.19.1`` from ``dovecot --version`` (which prints ``2.3.19.1 (9b53102964)``)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return out.split()[0]


def imap_binary() -> Path:
    for base in LIBEXEC_DIRS:
        candidate = Path(base) / "imap"
        if os.access(candidate, os.X_OK):
            return candidate
    raise DovecotUnavailable(f"dovecot's imap binary is not in any of {', '.join(LIBEXEC_DIRS)}")


def config_text(version: str, base: Path, maildir: Path, uid: int, gid: int) -> str:
    """A minimal dovecot.conf in the dialect of ``version`` (2.4 renamed the mail settings)."""
    major, minor = (int(p) for p in version.split(".")[:2])
    common = f"""\
base_dir = "{base / 'run'}"
state_dir = "{base / 'state'}"
ssl = no
# Preauthenticated sessions: no passdb/userdb, no stats service to report to.
stats_writer_socket_path =
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}
namespace inbox {{
  inbox = yes
  separator = .
}}
"""
    if (major, minor) >= (2, 4):
        return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}mail_driver = maildir
mail_path = "{maildir}"
mailbox_list_layout = Maildir++
"""
    return f"""\
{common}protocols = imap
mail_location = maildir:{maildir}
"""


def _namespace_prefix() -> tuple[list[str], int, int]:
    """The command prefix and the uid/gid the imap process runs as."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    unshare = shutil.which("unshare")
    if unshare is None:
        raise DovecotUnavailable("running as root, and Dovecot refuses root: unshare "
                                 "(util-linux) is needed to run it as an ordinary uid")
    prefix = [unshare, "--user", f"--map-user={NS_ID}", f"--map-group={NS_ID}"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=10,
                           check=False)
    if probe.returncode != 0:
        raise DovecotUnavailable("running as root, and Dovecot refuses root; no user namespace "
                                 f"to run it as an ordinary uid: {probe.stderr.strip()}")
    return prefix, NS_ID, NS_ID


def start(base: Path) -> Dovecot:
    """Configure a private Dovecot under ``base`` and check that a session works.

    The Maildir (``base/home/Maildir``) is created by Dovecot itself on the
    first session, as on a real server.

    :raises DovecotUnavailable: Dovecot is not installed or cannot run here.
    :raises RuntimeError: Dovecot is there but did not serve the mailbox.
    """
    version = dovecot_version(dovecot_binary())
    imap = imap_binary()
    prefix, uid, gid = _namespace_prefix()
    home = base / "home"
    maildir = home / "Maildir"
    home.mkdir(parents=True)
    config = base / "dovecot.conf"
    config.write_text(config_text(version, base, maildir, uid, gid))
    log = base / "imap.log"
    argv = ["env", "-i", f"USER={USER}", f"HOME={home}", "PATH=/usr/bin:/bin",
            *prefix, str(imap), "-c", str(config)]
    command = f"exec {shlex.join(argv)} 2>>{shlex.quote(str(log))}"
    server = Dovecot(home=home, maildir=maildir, version=version, config=config, log=log,
                     command=command)
    with server.session() as session:
        typ, data = session.select("INBOX")
        if typ != "OK":
            raise RuntimeError(f"dovecot cannot open INBOX: {data!r}\n{server.log_text()}")
    if not (maildir / "cur").is_dir():
        raise RuntimeError(f"dovecot did not create {maildir}\n{server.log_text()}")
    return server
