"""Method records shared by the category modules (kept apart to avoid import cycles)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wattchain.rpc.params import Param, bind, help_text

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.services import NodeServices


@dataclass(frozen=True)
class RpcContext:
    """What a handler sees: the node's services and the method table (for ``help``)."""

    node: "NodeServices"
    methods: Mapping[str, "RpcMethod"]


Handler = Callable[[RpcContext, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class RpcMethod:
    name: str
    category: str
    handler: Handler
    params: tuple[Param, ...] = ()
    description: str = ""

    def help(self) -> str:
        return help_text(self.name, self.params, self.description)

    def usage(self) -> str:
        return self.help().splitlines()[0]

    async def invoke(self, ctx: RpcContext, params: Any) -> Any:
        return await self.handler(ctx, bind(self.name, self.params, params, self.description))
