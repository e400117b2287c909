"""Write a simulation's outputs: ``results.json``, PNG plots (matplotlib, Agg backend) and an
``index.html`` that ties them together. Takes the results document only, so a report can be
rebuilt from a saved ``results.json`` without rerunning the chain."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from wattchain.sim.profiles import KWH, SLOT_MINUTES

TSL_UNIT = 10**8
PLOTS = {
    "energy.png": "Energy per slot: produced, demand, burned (covered by WATT), grid import, "
                  "and energy stored in the batteries at the end of each slot",
    "supplies.png": "WATT supply (minted minus burned) and TSL supply after each slot",
    "fees.png": "Storage fee income per party (TSL), cumulative",
    "blocks.png": "Transactions per block (contract transactions, excluding coinbase and "
                  "coinstake)",
}


def _hours(results: dict[str, Any]) -> list[float]:
    start = results["config"]["start_hour"]
    return [start + (s["slot"] + 1) * SLOT_MINUTES / 60 for s in results["slots"]]


def _plots(results: dict[str, Any], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slots = results["slots"]
    hours = _hours(results)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for key, label in (("produced", "produced"), ("demand", "demand"),
                       ("burned", "burned (WATT-covered)"), ("grid_import", "grid import")):
        ax.plot(hours, [s[key] / KWH for s in slots], label=label)
    ax.set_xlabel("hour of simulated time")
    ax.set_ylabel("kWh per 15-min slot")
    ax.grid(alpha=0.3)
    # Stored energy is a level, not a flow: its own axis, so the flows stay readable.
    level = ax.twinx()
    level.fill_between(hours, [s["stored"] / KWH for s in slots], alpha=0.2, color="tab:gray",
                       label="stored in batteries (right axis)")
    level.set_ylabel("kWh stored at the end of the slot")
    ax.set_zorder(level.get_zorder() + 1)   # the flows in front of the stored area
    ax.patch.set_visible(False)
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = level.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "energy.png", dpi=100)
    plt.close(fig)

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot(hours, [s["watt_supply"] / KWH for s in slots], color="tab:green")
    top.set_ylabel("WATT supply (kWh)")
    top.grid(alpha=0.3)
    bottom.plot(hours, [s["tsl_supply"] / TSL_UNIT for s in slots], color="tab:purple")
    bottom.set_ylabel("TSL supply")
    bottom.ticklabel_format(axis="y", useOffset=False, style="plain")
    bottom.set_xlabel("hour of simulated time")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "supplies.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for key, label, style in (("fee_owner_side", "battery owners (80%)", "-"),
                              ("fee_marketing", "marketing pool (10%)", "--"),
                              ("fee_platform", "platform (10% + remainders)", ":")):
        total, series = 0, []
        for s in slots:
            total += s[key]
            series.append(total / TSL_UNIT)
        ax.plot(hours, series, style, label=label)
    ax.set_xlabel("hour of simulated time")
    ax.set_ylabel("TSL earned (cumulative)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "fees.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 4))
    blocks = results["blocks"]
    ax.bar([b["height"] for b in blocks], [b["contract_transactions"] for b in blocks],
           color=["tab:blue" if b["simulation"] else "tab:gray" for b in blocks])
    ax.set_xlabel("block height (grey: setup)")
    ax.set_ylabel("transactions")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out / "blocks.png", dpi=100)
    plt.close(fig)


def _row(cells: list[Any], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _html(results: dict[str, Any]) -> str:
    t, cfg = results["totals"], results["config"]
    summary = [
        ("households", cfg["households"]), ("simulated hours", cfg["hours"]),
        ("seed", cfg["seed"]), ("batteries", cfg["batteries"]),
        ("energy produced (kWh)", f"{t['produced'] / KWH:.3f}"),
        ("energy demand (kWh)", f"{t['demand'] / KWH:.3f}"),
        ("grid import (kWh)", f"{t['grid_import'] / KWH:.3f}"),
        ("WATT minted / burned", f"{t['watt_minted'] / KWH:.3f} / {t['watt_burned'] / KWH:.3f}"),
        ("WATT held + in batteries", f"{t['watt_held'] / KWH:.3f} + "
                                     f"{t['watt_in_storage'] / KWH:.3f}"),
        ("TSL supply", f"{t['tsl_supply'] / TSL_UNIT:,.0f}"),
        ("storage fees (TSL)", f"{t['fees'] / TSL_UNIT:.8f}"),
        ("owners / marketing / platform (TSL)",
         f"{t['fee_owner_side'] / TSL_UNIT:.8f} / {t['fee_marketing'] / TSL_UNIT:.8f} / "
         f"{t['fee_platform'] / TSL_UNIT:.8f}"),
        ("transactions / blocks", f"{t['transactions']} / {t['blocks']}"),
        ("heights", f"{t['first_height']} .. {t['tip']}"),
    ]
    houses = [_row(["#", "account", "kWp", "EV sessions", "battery", "WATT (kWh)",
                    "TSL fees paid"], "th")]
    houses += [_row([i, h["account"], h["kwp"], h["ev_sessions"], h["battery"],
                     f"{h['watt'] / KWH:.4f}", f"{h['fees_paid'] / TSL_UNIT:.8f}"])
               for i, h in enumerate(results["parties"]["houses"])]
    owners = [_row(["battery", "owner account", "capacity (kWh)", "stored (kWh)",
                    "earned (TSL)"], "th")]
    owners += [_row([o["battery"], o["account"], f"{o['capacity'] / KWH:.1f}",
                     f"{o['stored'] / KWH:.4f}", f"{o['earnings'] / TSL_UNIT:.8f}"])
               for o in results["parties"]["owners"]]
    figures = "".join(f'<figure><img src="{name}" alt="{html.escape(caption)}">'
                      f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                      for name, caption in PLOTS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wattchain microgrid simulation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.2em .6em;
font-size:.9em;text-align:right}}figure{{margin:1.5em 0}}img{{max-width:100%}}</style></head>
<body><h1>Microgrid simulation</h1>
<p>Every figure below was read back from the chain over JSON-RPC after the run (token views,
receipts, blocks); the raw data is in <a href="results.json">results.json</a>. Production
readings minted WATT, consumption readings burned it, surplus was stored in community
batteries for a TSL fee per 15-minute slot, split 80/10/10 on chain.</p>
<table>{"".join(_row([k, v]) for k, v in summary)}</table>
{figures}
<h2>Batteries</h2><table>{"".join(owners)}</table>
<h2>Households</h2><table>{"".join(houses)}</table>
</body></html>
"""


def write_report(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    _plots(results, out)
    (out / "index.html").write_text(_html(results))


__all__ = ["PLOTS", "write_report"]
