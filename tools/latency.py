"""`thuisbest latency`: referral-to-decision latency on a running stack (a measurement, not a test).

It refers and reads cases as a person of the network (a coordinator by default), with a token
signed by the data dir's key of `thuisbest up`, or with a token given (another identity provider)."""

from __future__ import annotations

import argparse
import asyncio
import email
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.kinds import kind_for_group_kind
from shared.network import Network
from shared.settings import DEMO_NETWORK
from tools.scenario import load_scenario
from tools.trust import NoIssuer, bearer, load_issuer

TOKEN_ENV = "THUISBEST_TOKEN"


def sample_referral(net: Network, rng: random.Random, today: date) -> dict[str, Any]:
    """A valid referral for `net`: a youth of 14 or 15, a machtiging covering a full stay."""
    referrer = rng.choice([p for p in net.people if p.role == "referrer"])
    # Three in ten referrals for the kind on open groups, the others for the kind on closed groups.
    kind = kind_for_group_kind("open" if rng.random() < 0.3 else "closed")
    body: dict[str, Any] = {
        "case": "lat-" + uuid.uuid4().hex[:12],
        "kind": kind.name,
        "birth_date": (today - timedelta(days=365 * 14 + rng.randrange(300))).isoformat(),
        "home_region": referrer.regions[0],
        "referrer": referrer.id,
        "urgency": rng.choice(["normal", "normal", "urgent", "crisis"]),
        "earliest_start": (today + timedelta(days=rng.randrange(1, 10))).isoformat(),
        "conflicts_with": [],
        "timeout_address": "informal network: aunt, same town" if kind.timeout_address_expected else None,
        "machtiging": None,
    }
    if kind.needs_machtiging:
        body["machtiging"] = {
            "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=200)).isoformat(),
        }
    return body


async def decided_after(client: httpx.AsyncClient, intake: str, body: dict[str, Any], limit: float) -> float:
    started = time.perf_counter()
    response = await client.post(f"{intake}/v1/referrals", json=body)
    response.raise_for_status()
    while time.perf_counter() - started < limit:
        case = (await client.get(f"{intake}/v1/cases/{body['case']}")).json()
        if case["status"] != "registered":
            return time.perf_counter() - started
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{body['case']} not decided within {limit} s")


async def measure(
    intake: str, net: Network, n: int, concurrency: int, seed: int, headers: dict[str, str]
) -> list[float]:
    """Seconds from posting to a decision, per referral; `headers` carry the bearer token of a person
    who may refer in every region of `net` and read the cases (a coordinator)."""
    rng = random.Random(seed)
    today = date.today()
    bodies = [sample_referral(net, rng, today) for _ in range(n)]
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=10, headers=headers) as client:

        async def one(body: dict[str, Any]) -> float:
            async with gate:
                return await decided_after(client, intake, body, 60.0)

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def mail_files(folder: Path | None) -> set[str]:
    """The mail sink's files (`thuisbest up` writes one .eml per message), none without a folder."""
    return {p.name for p in folder.glob("*.eml")} if folder is not None and folder.is_dir() else set()


def promises_changed(folder: Path, names: set[str]) -> set[str]:
    """The cases of the given mails whose promised placement was announced as changed (a
    `placement_assigned` mail that replaces an earlier one)."""
    changed = set()
    for name in names:
        if "-placement_assigned-" not in name:
            continue
        subject = email.message_from_bytes((folder / name).read_bytes())["Subject"] or ""
        words = " ".join(subject.split())
        for prefix in ("Gewijzigd: plaatsing ", "Changed: placement "):
            if words.startswith(prefix):
                changed.add(words.removeprefix(prefix).split(":")[0])
    return changed


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="thuisbest latency", description=__doc__)
    parser.add_argument("--intake", default="http://127.0.0.1:8081")
    parser.add_argument("--network", default=str(DEMO_NETWORK))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mail-dir", help="the mail sink to count the run's mail in (default: DATA_DIR/mail with --data-dir)"
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--data-dir", help="the --data-dir of `thuisbest up`: its key signs the token")
    who.add_argument("--token", help=f"a bearer token to send (default: ${TOKEN_ENV})")
    parser.add_argument("--as", dest="person", default="coord", help="whose token (with --data-dir)")
    args = parser.parse_args(argv)
    net = load_scenario(args.network).network
    token = args.token or (None if args.data_dir else os.environ.get(TOKEN_ENV))
    if token:
        headers = {"Authorization": f"Bearer {token}"}
    elif args.data_dir:
        try:
            headers = bearer(load_issuer(Path(args.data_dir).resolve()), args.person, minutes=120)
        except NoIssuer as exc:
            print(f"thuisbest latency: {exc}", file=sys.stderr)
            return 2
    else:
        print(
            f"thuisbest latency: the services need a bearer token: give --data-dir (of `thuisbest up`),"
            f" --token or ${TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2
    mail_dir = (
        Path(args.mail_dir) if args.mail_dir else Path(args.data_dir) / "mail" if args.data_dir else None
    )
    before = mail_files(mail_dir)
    latencies = asyncio.run(measure(args.intake, net, args.n, args.concurrency, args.seed, headers))
    print(
        f"{len(latencies)} referrals, referral-to-decision seconds: "
        f"p50 {percentile(latencies, 50):.3f}  p99 {percentile(latencies, 99):.3f}  "
        f"max {max(latencies):.3f}  mean {statistics.fmean(latencies):.3f}"
    )
    if mail_dir is not None:
        time.sleep(3)  # the notifier's last mails of the run
        new = mail_files(mail_dir) - before
        moved = promises_changed(mail_dir, new)
        print(
            f"mail during the run: {len(new)} messages, {len(new) / max(1, args.n):.2f} per referral; "
            f"promised placements announced as changed: {len(moved)}"
        )
    return 0
