"""Core's "control" category: help, stop, uptime."""

from __future__ import annotations

from typing import Any

from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param


async def help_(ctx: RpcContext, a: dict[str, Any]) -> str:
    """Core's help: every usage line grouped by category, or one method's help."""
    command = a["command"]
    if command:
        method = ctx.methods.get(command)
        if method is None:
            return f"help: unknown command: {command}"
        return method.help()
    lines: list[str] = []
    categories: dict[str, list[RpcMethod]] = {}
    for method in ctx.methods.values():
        categories.setdefault(method.category, []).append(method)
    for category in sorted(categories):
        if lines:
            lines.append("")
        lines.append(f"== {category.capitalize()} ==")
        lines += [m.usage() for m in sorted(categories[category], key=lambda m: m.name)]
    return "\n".join(lines)


async def stop(ctx: RpcContext, a: dict[str, Any]) -> str:
    """Ask the daemon to shut down (it waits on ``node.shutdown``); the reply goes out first."""
    ctx.node.shutdown.set()
    return "wattchain server stopping"


async def uptime(ctx: RpcContext, a: dict[str, Any]) -> int:
    return int(ctx.node.clock() - (ctx.node.started_at or 0))


METHODS = (
    RpcMethod("help", "control", help_,
              (Param("command", ArgType.STR, False, None, "the command to get help on"),),
              "List all commands, or get help for a specified command."),
    RpcMethod("stop", "control", stop, (), "Request a graceful shutdown of the node."),
    RpcMethod("uptime", "control", uptime, (),
              "Returns the total uptime of the server in seconds."),
)
