"""A real mosquitto broker for tests and benchmarks: its own process on 127.0.0.1.

Never the system service: each Broker writes a config file into its own folder,
takes a free port and runs `mosquitto -c` in the foreground. Accounts, ACLs and
TLS are optional; persistence is on, so a broker stopped and started again keeps
its retained messages, as a real one does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto on 127.0.0.1:port; `start()`, `stop()`, `start()` again keeps retained."""

    def __init__(self, folder: Path, *, accounts: dict[str, str] | None = None,
                 acl: str | None = None, tls: Path | None = None) -> None:
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto)")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [f"listener {self.port} 127.0.0.1", "persistence true",
                 f"persistence_location {folder}/", "autosave_interval 1",
                 f"log_dest file {folder}/mosquitto.log", "log_type all", "user root",
                 "max_queued_messages 100000"]
        if accounts is None:
            lines.append("allow_anonymous true")
        else:
            lines.append("allow_anonymous false")
            pw = folder / "passwords"
            pw.write_text("")
            for user, password in accounts.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True, timeout=30)
            lines.append(f"password_file {pw}")
        if acl is not None:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        if tls is not None:
            lines += [f"cafile {tls / 'ca.crt'}", f"certfile {tls / 'server.crt'}",
                      f"keyfile {tls / 'server.key'}", "require_certificate true",
                      "use_identity_as_username true"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        """Where daemons find it."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        """Run it and wait (bounded) until it accepts connections."""
        self.proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        """SIGTERM (it saves its retained messages), bounded wait, then SIGKILL."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        """The broker's own log (for failure messages)."""
        try:
            return (self.folder / "mosquitto.log").read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_certs(folder: Path, clients: tuple[str, ...]) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and one client certificate
    per name (its CN is the broker account, with use_identity_as_username)."""
    folder.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder,
                       timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in [("server", ["-extfile", "san.cnf"]),
                      *[(c, []) for c in clients]]:
        cn = "127.0.0.1" if name == "server" else name
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *ext)
    return folder
