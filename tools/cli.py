"""The `thuisbest` command: `up` runs the platform on its embedded default, `token` signs a person's bearer
token for it, `login` a one-time sign-in link of its board; simulate, bench, generate, validate, latency,
capacity."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from shared.events import ALL_TOPICS
from shared.issuer import SIGNIN_AUDIENCE, Issuer
from shared.network import Network, Person, ScenarioError
from shared.service import DEFAULT_PORTS
from shared.settings import DEMO_NETWORK
from tools.scenario import load_scenario
from tools.trust import AUTH_DIR, POSTGRES_PASSWORD, SECRETS_DIR, EmbeddedTrust, NoIssuer, load_issuer

SERVICES = ("intake", "scheduler", "notifier", "board")
SIGNIN_MINUTES = 10
UP_TOKEN_MINUTES = 12 * 60  # the token `up` prints lasts a working day
MAX_TOKEN_MINUTES = 7 * 24 * 60


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def create_databases(dsn: str, names: Sequence[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def replay_outboxes(dsn: str, names: Sequence[str]) -> int:
    """Queue every event of the services' outboxes again; returns how many.

    The embedded broker keeps nothing across its own restart, so events that were published but
    not yet consumed when the stack stopped would be lost. Publishing the whole outbox again is
    safe: every consumer deduplicates on the event id, so what was processed is skipped.
    """
    import asyncpg

    total = 0
    for name in names:
        conn = await asyncpg.connect(with_database(dsn, name))
        try:
            if await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL"):
                status = await conn.execute(
                    "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL"
                )
                total += int(status.split()[-1])
        finally:
            await conn.close()
    return total


class ServiceProcesses:
    """The three service processes, pointed at a PostgreSQL server and a Kafka broker."""

    def __init__(
        self,
        dsn: str,
        bootstrap: str,
        network: Path,
        ports: dict[str, int],
        data_dir: Path,
        *,
        topic_prefix: str = "",
        db_prefix: str = "",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.dsn, self.bootstrap, self.network = dsn, bootstrap, network
        self.ports, self.data_dir = ports, data_dir
        self.topic_prefix, self.db_prefix = topic_prefix, db_prefix
        self.extra_env = extra_env or {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def database(self, name: str) -> str:
        return self.db_prefix + name

    def prepare(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        asyncio.run(create_databases(self.dsn, [self.database(n) for n in SERVICES]))
        from tools.embedded import create_topics

        asyncio.run(create_topics(self.bootstrap, [self.topic_prefix + t for t in ALL_TOPICS]))

    def start(self, *names: str) -> None:
        for name in names or SERVICES:
            self.processes[name] = self.spawn(name)

    def env(self, name: str) -> dict[str, str]:
        port = self.ports[name]
        env = dict(os.environ)
        env.update(
            THUISBEST_DATABASE_URL=with_database(self.dsn, self.database(name)),
            THUISBEST_KAFKA_BOOTSTRAP=self.bootstrap,
            THUISBEST_NETWORK_FILE=str(self.network),
            THUISBEST_HTTP_PORT=str(port),
            THUISBEST_BASE_URL=f"http://127.0.0.1:{port}",
            THUISBEST_INTAKE_URL=self.url("intake"),
            THUISBEST_SCHEDULER_URL=self.url("scheduler"),
            THUISBEST_NOTIFIER_URL=self.url("notifier"),
            THUISBEST_BOARD_URL=self.url("board"),
            THUISBEST_MAIL_DIR=str(self.data_dir / "mail"),
            THUISBEST_TOPIC_PREFIX=self.topic_prefix,
            # The embedded broker holds a dead member until its session expires: keep it short.
            THUISBEST_KAFKA_SESSION_TIMEOUT_MS="1000",
            THUISBEST_KAFKA_HEARTBEAT_INTERVAL_MS="200",
            THUISBEST_KAFKA_REBALANCE_TIMEOUT_MS="1000",
        )
        env.update(self.extra_env)
        if name == "board":  # the embedded default's sign-in: the board signs its people's API tokens
            env["THUISBEST_BOARD_ISSUER_DIR"] = str(self.data_dir / AUTH_DIR)
        return env

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (kept by the process)
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=self.env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def wait_healthy(self, timeout: float = 60.0, names: Sequence[str] = SERVICES) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                proc = self.processes[name]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with code {proc.returncode}; see {self.data_dir}/logs/{name}.log"
                    )
                try:
                    if httpx.get(self.url(name) + "/healthz", timeout=1).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not healthy within {timeout:.0f} s: {', '.join(sorted(pending))}")
            if pending:
                time.sleep(0.2)

    def stop(self, *names: str, kill: bool = False) -> None:
        chosen = [self.processes[n] for n in (names or list(self.processes)) if n in self.processes]
        for proc in chosen:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for proc in chosen:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Stack:
    """The embedded PostgreSQL and broker, and the three services on them, with the data dir's
    secrets: its token issuer, intake's identity keys, the webhook secret, the database password."""

    def __init__(
        self,
        data_dir: Path,
        network: Path,
        ports: dict[str, int],
        kafka_port: int | None,
        trust: EmbeddedTrust,
    ) -> None:
        from tools.embedded import EmbeddedKafka, EmbeddedPostgres

        self.data_dir, self.network, self.ports, self.trust = data_dir, network, ports, trust
        self.postgres = EmbeddedPostgres(data_dir=data_dir / "pg", password=trust.postgres_password)
        self.kafka = EmbeddedKafka(port=kafka_port, log_file=data_dir / "logs" / "broker.log")
        self.services: ServiceProcesses | None = None

    def start(self) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.kafka.start()
        self.services = ServiceProcesses(
            self.postgres.dsn,
            self.kafka.bootstrap,
            self.network,
            self.ports,
            self.data_dir,
            extra_env=self.trust.service_env(),
        )
        self.services.prepare()
        replayed = asyncio.run(
            replay_outboxes(self.postgres.dsn, [self.services.database(n) for n in SERVICES])
        )
        if replayed:
            say(
                f"the embedded broker starts empty: {replayed} earlier events queued again"
                " (consumers skip what they processed)"
            )
        self.services.start()

    def stop(self) -> None:
        if self.services:
            self.services.stop()
        self.kafka.stop()
        self.postgres.stop()


def cmd_up(args: argparse.Namespace) -> int:
    network = Path(args.network) if args.network else DEMO_NETWORK
    try:
        net = load_scenario(network)
    except ScenarioError as exc:
        print(f"thuisbest up: {exc}", file=sys.stderr)
        return 2
    temporary = args.data_dir is None
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="thuisbest-")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {name: getattr(args, f"{name}_port") or DEFAULT_PORTS[name] for name in SERVICES}
    started = time.monotonic()
    try:
        trust = EmbeddedTrust.ensure(data_dir)
    except (OSError, ValueError) as exc:
        print(f"thuisbest up: the secrets in {data_dir}: {exc}", file=sys.stderr)
        return 1
    stack = Stack(data_dir, network.resolve(), ports, args.kafka_port, trust)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"starting ThuisBest on network {net.name!r} ({len(net.regions)} regions) in {data_dir}")
        stack.start()
        assert stack.services is not None
        services = stack.services
        services.wait_healthy(args.timeout)
        print(f"healthy after {time.monotonic() - started:.1f} s")
        password_file = data_dir / SECRETS_DIR / POSTGRES_PASSWORD
        print(f"  postgres   {stack.postgres.address}  (password in {password_file})")
        print(f"  kafka      {stack.kafka.bootstrap}")
        for name in SERVICES[:-1]:  # the board's line comes with its sign-in link
            url = f"http://127.0.0.1:{ports[name]}"
            print(f"  {name:<10} {url}  (docs {url}/docs, metrics {url}/metrics)")
        print(f"  mail sink  {data_dir / 'mail'}")
        print_signin(net, trust, data_dir, services.url("board"), args.network)
        print(f"  logs       {data_dir / 'logs'}")
        print_token(net, trust, data_dir, args.network)
        print("press Ctrl-C to stop", flush=True)
        while not stopping:
            for name, proc in list(services.processes.items()):
                if proc.poll() is not None:
                    print(f"{name} stopped unexpectedly (code {proc.returncode}); restarting", flush=True)
                    services.processes[name] = services.spawn(name)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"thuisbest up: {exc}", file=sys.stderr)
        return 1
    finally:
        # Stop the children before anything else can fail: a second Ctrl-C or a closed stdout
        # (a pipe whose reader died) must not leave services running without their broker.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("stopping ...")
        stack.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
        say("stopped")
    return 0


def first_coordinator(net: Network) -> Person | None:
    """Whom `up` prints a token for: `coord` when the network has it, else its first coordinator."""
    coordinators = [p for p in net.people if p.role == "coordinator"]
    return next((p for p in coordinators if p.id == "coord"), coordinators[0] if coordinators else None)


def print_signin(
    net: Network, trust: EmbeddedTrust, data_dir: Path, board_url: str, network_arg: str | None
) -> None:
    """The board's one-time sign-in link for one coordinator, and how to get one for anybody else."""
    person = first_coordinator(net)
    how = f"thuisbest login PERSON --data-dir {data_dir}" + (
        f" --network {network_arg}" if network_arg else ""
    )
    if person is None:
        print(f"  board      {board_url}  (sign in: {how})")
        return
    print(f"  board      {board_url}  sign in as {person.id} within {SIGNIN_MINUTES} minutes (once):")
    print(f"    {signin_link(trust.issuer, person.id, board_url)}")
    print(f"    for another person: {how}")


def print_token(net: Network, trust: EmbeddedTrust, data_dir: Path, network_arg: str | None) -> None:
    """One coordinator's bearer token, and how to get one for anybody else of the network."""
    how = f"thuisbest token PERSON --data-dir {data_dir}"
    if network_arg:
        how += f" --network {network_arg}"
    person = first_coordinator(net)
    if person is None:
        print(f"  tokens     the network has no coordinator; for a person: {how}")
        return
    regions = ", ".join(person.regions) or "no region"
    hours = UP_TOKEN_MINUTES // 60
    print(f"bearer token of {person.id} ({person.role} of {regions}, valid {hours} h):")
    print(f"  {trust.issuer.token(person.id, minutes=UP_TOKEN_MINUTES)}")
    print(f"  send it as 'Authorization: Bearer <token>'; for another person: {how}")


def signer(args: argparse.Namespace, command: str) -> Issuer | int:
    """The data dir's issuer, once `args.person` is known to be of the network; else an exit code."""
    network = Path(args.network) if args.network else DEMO_NETWORK
    try:
        net = load_scenario(network).network
    except ScenarioError as exc:
        print(f"thuisbest {command}: {exc}", file=sys.stderr)
        return 2
    if args.person not in {p.id for p in net.people}:
        print(
            f"thuisbest {command}: {args.person!r} is not a person of network {net.name!r};"
            f" its people are {people_by_role(net)}",
            file=sys.stderr,
        )
        return 2
    try:
        return load_issuer(Path(args.data_dir).resolve())
    except NoIssuer as exc:
        print(f"thuisbest {command}: {exc}", file=sys.stderr)
        return 2


def cmd_token(args: argparse.Namespace) -> int:
    issuer = signer(args, "token")
    if isinstance(issuer, int):
        return issuer
    print(issuer.token(args.person, minutes=args.minutes))
    return 0


def signin_link(issuer: Issuer, person: str, board_url: str) -> str:
    """A one-time sign-in link of the board for `person` (valid SIGNIN_MINUTES, used once)."""
    token = issuer.token(person, minutes=SIGNIN_MINUTES, audience=SIGNIN_AUDIENCE)
    return f"{board_url.rstrip('/')}/aanmelden/link?{urlencode({'token': token})}"


def cmd_login(args: argparse.Namespace) -> int:
    issuer = signer(args, "login")
    if isinstance(issuer, int):
        return issuer
    print(signin_link(issuer, args.person, args.board_url))
    return 0


def people_by_role(net: Network, shown: int = 3) -> str:
    """Who there is to ask a token for, as `coordinator: coord, coord-WBO; referrer: ref-ZL, ...`."""
    roles: dict[str, list[str]] = {}
    for person in net.people:
        roles.setdefault(person.role, []).append(person.id)
    listed = (", ".join(ids[:shown]) + (", ..." if len(ids) > shown else "") for ids in roles.values())
    return "; ".join(f"{role}: {ids}" for role, ids in zip(roles, listed, strict=True))


def token_minutes(text: str) -> float:
    minutes = float(text)
    if not 0 < minutes <= MAX_TOKEN_MINUTES:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TOKEN_MINUTES}")
    return minutes


def say(text: str) -> None:
    """Print a line; a closed stdout (the reader of a pipe went away) is not an error while stopping."""
    try:
        print(text, flush=True)
    except OSError:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thuisbest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run intake, scheduler and notifier on embedded PostgreSQL and Kafka")
    up.add_argument("--network", help="network or scenario file (default: the shipped demo network)")
    up.add_argument("--data-dir", help="keep PostgreSQL data and logs here (survives a restart)")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    up.add_argument("--kafka-port", type=int, default=None)
    for name in SERVICES:
        up.add_argument(f"--{name}-port", type=int, default=None)
    token = sub.add_parser(
        "token",
        help="print a bearer token for a person of the network, signed with the key of `up`'s data dir",
    )
    token.add_argument("person", help="a person id of the network, e.g. coord, ops, ref-ZL")
    token.add_argument("--data-dir", required=True, help="the --data-dir of `thuisbest up`")
    token.add_argument("--network", help="network or scenario file (default: the shipped demo network)")
    token.add_argument("--minutes", type=token_minutes, default=60.0, help="lifetime (default 60)")
    login = sub.add_parser(
        "login", help=f"print a one-time sign-in link of the board for a person ({SIGNIN_MINUTES} minutes)"
    )
    login.add_argument("person", help="a person id of the network, e.g. coord, sup0, ref-ZL")
    login.add_argument("--data-dir", required=True, help="the --data-dir of `thuisbest up`")
    login.add_argument("--network", help="network or scenario file (default: the shipped demo network)")
    login.add_argument("--board-url", default=f"http://127.0.0.1:{DEFAULT_PORTS['board']}")
    for name in ("simulate", "bench", "generate", "validate", "latency", "capacity"):
        sub.add_parser(name, add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command in ("up", "token", "login"):
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return {"up": cmd_up, "token": cmd_token, "login": cmd_login}[args.command](args)
    if args.command == "simulate":
        from tools.simulate import main as simulate_main

        return simulate_main(rest)
    if args.command == "bench":
        from tools.bench import main as bench_main

        return bench_main(rest)
    if args.command == "latency":
        from tools.latency import main as latency_main

        return latency_main(rest)
    if args.command == "capacity":
        from tools.capacity import main as capacity_main

        return capacity_main(rest)
    if args.command == "generate":
        from tools.generator import main as generate_main

        return generate_main(rest)
    from tools.validator import main as validate_main

    return validate_main(rest)


if __name__ == "__main__":
    sys.exit(main())
