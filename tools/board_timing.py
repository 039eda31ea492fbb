"""How fast the board's pages answer on a running stack, beside the API call each page is built on.

    thuisbest up --data-dir data &
    python -m tools.board_timing --data-dir data [--referrals 60] [--rounds 15]

Registers `--referrals` referrals of the demo network at intake (spread over regions, kinds and
start dates, so the bed board and waiting list are full), signs in to the board as `coord` with
a one-time link, then fetches every page `--rounds` times and prints the median and the slowest,
each beside the median of the JSON call the page rests on (the baseline, measured in the same
run): what the board adds is rendering and its own session look-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

from shared.kinds import KINDS
from shared.service import DEFAULT_PORTS
from tools.cli import signin_link
from tools.trust import load_issuer

PAGES = {  # page -> (service, API path it rests on)
    "/wachtlijst": ("scheduler", "/v1/waiting-list"),
    "/bedden": ("scheduler", "/v1/beds"),
    "/meldingen": ("notifier", "/v1/alerts/mine"),
    "/casussen/{case}": ("intake", "/v1/cases/{case}"),
    "/aanmelding": ("board", "/static/board.css"),  # no API call: beside a static file of the board
}


def timed(client: httpx.Client, url: str, rounds: int, **kw: object) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.get(url, **kw)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - started)
        answer.raise_for_status()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", required=True, help="the --data-dir of `thuisbest up`")
    parser.add_argument("--referrals", type=int, default=60, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    issuer = load_issuer(Path(args.data_dir).resolve())
    url = {name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_PORTS.items()}
    api = httpx.Client(headers={"Authorization": f"Bearer {issuer.token('coord')}"}, timeout=30)
    today = date.today()
    regions = ("ZL", "WBW", "WBO")  # the demo network's
    stamp = f"{time.time():.0f}"[-5:]
    cases = []
    kinds = list(KINDS)
    for i in range(args.referrals):
        region = regions[i % 3]
        case = f"t{stamp}-{i:03d}"
        body: dict[str, object] = {
            "case": case,
            "kind": kinds[i % len(kinds)],
            "birth_date": (today - timedelta(days=365 * 14)).isoformat(),
            "home_region": region,
            "referrer": f"ref-{region}",
            "urgency": ("normal", "urgent", "crisis")[i % 3],
            "earliest_start": (today + timedelta(days=i % 40)).isoformat(),
        }
        # a quarter of the referrals that need a machtiging come without one: they wait for it
        if KINDS[kinds[i % len(kinds)]].needs_machtiging and i % 4:
            body["machtiging"] = {
                "valid_from": today.isoformat(),
                "valid_until": (today + timedelta(180)).isoformat(),
            }
        api.post(f"{url['intake']}/v1/referrals", json=body).raise_for_status()
        cases.append(case)
    time.sleep(5)  # let the scheduler plan them
    board = httpx.Client(base_url=url["board"], timeout=30)
    link = signin_link(issuer, "coord", url["board"])
    signed_in = board.post("/aanmelden/link", data={"token": link.split("token=", 1)[1]})
    if signed_in.status_code != 303:
        print(f"board_timing: signing in failed ({signed_in.status_code})", file=sys.stderr)
        return 1
    print(f"{args.referrals} referrals registered; {args.rounds} rounds per page (seconds)")
    print(f"{'page':<22}{'median':>8}{'slowest':>9}   {'its API call':<26}{'median':>8}{'ratio':>7}")
    for page, (service, path) in PAGES.items():
        page_url = page.format(case=cases[0])
        pages = timed(board, page_url, args.rounds)
        base = timed(api, url[service] + path.format(case=cases[0]), args.rounds)
        ratio = statistics.median(pages) / statistics.median(base)
        print(
            f"{page_url:<22}{statistics.median(pages):>8.3f}{max(pages):>9.3f}   "
            f"{service + ' ' + path.format(case='…'):<26}{statistics.median(base):>8.3f}{ratio:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
