"""``wattchain sim microgrid``: the command-line entry of the microgrid simulation."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_sim_parser(sub: Any) -> None:
    """Register ``sim microgrid`` on the top-level CLI's subparsers."""
    sim = sub.add_parser("sim", help="simulations through a local network of real nodes")
    which = sim.add_subparsers(dest="sim", required=True)
    grid = which.add_parser("microgrid", help="a solar community settling energy on chain")
    grid.add_argument("--households", type=int, default=50)
    grid.add_argument("--hours", type=int, default=24, help="simulated hours (15-min slots)")
    grid.add_argument("--seed", type=int, default=1, help="seed of weather, loads and EVs")
    grid.add_argument("--start-hour", type=int, default=0, help="hour of day of the start")
    grid.add_argument("--batteries", type=int, default=2, help="community batteries")
    grid.add_argument("--out", type=Path, required=True,
                      help="directory for results.json, the plots and index.html")
    grid.add_argument("--quiet", action="store_true", help="no progress bar")
    grid.set_defaults(func=lambda args, _params: run_sim(args))


def run_sim(args: argparse.Namespace) -> int:
    import asyncio

    from wattchain.cli import CliError
    from wattchain.sim.driver import SimConfig, run_microgrid
    try:
        config = SimConfig(households=args.households, hours=args.hours, seed=args.seed,
                           start_hour=args.start_hour, batteries=args.batteries)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    results = asyncio.run(run_microgrid(config, args.out, show_progress=not args.quiet))
    totals = results["totals"]
    print(f"{config.households} households, {config.hours} h: "
          f"{totals['transactions']} transactions in {totals['blocks']} blocks; "
          f"report: {args.out / 'index.html'}")
    return 0


__all__ = ["add_sim_parser", "run_sim"]
