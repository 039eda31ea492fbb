"""The pictures (matplotlib, PNG and SVG) and the one-page HTML report of `thuisbest capacity`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.capacity import Sweep

WAIT_KPIS = ("mean_wait_days", "p90_wait_days")


def write_pictures(sweep: Sweep, found: list[dict[str, Any]], out: Path) -> list[Path]:
    """Per region and resource one figure: wait (mean, p90) and occupancy against capacity; the PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tools.capacity import BED_RESOURCES, kpi_of

    pngs: list[Path] = []
    for a in found:
        region, resource = a["region"], a["resource"]
        values = sweep.values[(region, resource)]
        runs = [sweep.kpis(region, resource, v) for v in values]
        fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.2), dpi=80)
        for kpi, colour in zip(WAIT_KPIS, ("tab:blue", "tab:red"), strict=True):
            per_run = [[kpi_of(r, region, kpi) for r in rs] for rs in runs]  # the region's youths
            mean = [sum(vs) / len(vs) for vs in per_run]
            low = [min(vs) for vs in per_run]
            high = [max(vs) for vs in per_run]
            left.plot(
                values, mean, marker="o", color=colour, label=kpi.replace("_days", "").replace("_", " ")
            )
            left.fill_between(values, low, high, color=colour, alpha=0.15)
        if sweep.target.kpi in WAIT_KPIS:
            left.axhline(sweep.target.value, color="grey", linestyle="--", label=f"target {sweep.target}")
        for axis in (left, right):
            axis.axvline(a["now"], color="black", linewidth=0.8, linestyle=":", label="now")
            if a["needed"] is not None:
                axis.axvline(a["needed"], color="tab:green", linewidth=1.2, label="needed")
            axis.set_xlabel(resource.replace("_", " ") + f" in {region}")
            axis.set_xticks(values)
            axis.grid(alpha=0.3)
        left.set_ylabel(f"wait of {region}'s youths (days)")
        left.set_title(f"{region} {resource}: wait", fontsize=10)
        left.legend(fontsize=7)
        kind = BED_RESOURCES.get(resource)
        keys = [f"{region}/{kind}"] if kind else sorted(runs[0][0]["occupancy_pct"])
        field = "occupancy_by_region_pct" if kind else "occupancy_pct"
        for key in keys:
            occ = [sum(float(r[field][key]) for r in rs) / len(rs) for rs in runs]
            right.plot(values, occ, marker="s", label=f"{key} beds")
        right.set_ylabel("occupancy (% of bed-nights)")
        right.set_ylim(0, 105)
        right.set_title(f"{region} {resource}: occupancy", fontsize=10)
        right.legend(fontsize=7)
        fig.tight_layout()
        stem = out / f"capacity-{region}-{resource}"
        fig.savefig(stem.with_suffix(".png"))
        fig.savefig(stem.with_suffix(".svg"))
        plt.close(fig)
        pngs.append(stem.with_suffix(".png"))
    return pngs


def write_report(
    sweep: Sweep, rows: list[list[str]], pictures: list[Path], out: Path, *, scenario_name: str, policy: str
) -> Path:
    """report.html: the table of answers and the pictures (relative paths), all text escaped."""
    e = html.escape
    head = "".join(f'<th scope="col">{e(cell)}</th>' for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>\n" for row in rows[1:])
    notes = "".join(f"<li>{e(note)}</li>" for note in sweep.notes)
    figures = "".join(
        f'<figure><img src="{e(p.name)}" alt="{e(p.stem)}: wait and occupancy against capacity">'
        f'<figcaption>{e(p.stem)} (<a href="{e(p.with_suffix(".svg").name)}">SVG</a>)</figcaption></figure>\n'
        for p in pictures
    )
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Capacity: {e(scenario_name)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:1em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>How many places do we need? {e(scenario_name)}</h1>
<p>Target {e(str(sweep.target))} in the mean over {sweep.replications} replication(s), policy {e(policy)}.
One resource of one region is varied at a time, everything else as in the scenario. <em>needed</em> is the
smallest capacity from which on the target is met; the interval is the range of the replications' own
smallest capacities (a bound shown as - was not reached in the swept range).</p>
<table><caption>Answers per region and resource</caption><thead><tr>{head}</tr></thead>
<tbody>{body}</tbody></table>
{f"<ul>{notes}</ul>" if notes else ""}
{figures}</body></html>
"""
    path = out / "report.html"
    path.write_text(text, encoding="utf-8")
    return path
