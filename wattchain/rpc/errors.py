"""Bitcoin Core's JSON-RPC error codes (src/rpc/protocol.h) and the exception that carries one.

Clients branch on these numbers (bitcoin-cli exits with ``abs(code)``; libraries map them to
exception classes), so the values are Core's, never renumbered. Only the codes wattchain can
produce are listed.
"""

from __future__ import annotations

from typing import Any

# ---- standard JSON-RPC 2.0 errors
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_INTERNAL_ERROR = -32603
RPC_PARSE_ERROR = -32700

# ---- general application errors
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_OUT_OF_MEMORY = -7
RPC_INVALID_PARAMETER = -8
RPC_DATABASE_ERROR = -20
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27
RPC_IN_WARMUP = -28
RPC_METHOD_DEPRECATED = -32
RPC_CLIENT_MEMPOOL_DISABLED = -33

# ---- P2P client errors
RPC_CLIENT_NOT_CONNECTED = -9
RPC_CLIENT_IN_INITIAL_DOWNLOAD = -10
RPC_CLIENT_NODE_ALREADY_ADDED = -23
RPC_CLIENT_NODE_NOT_ADDED = -24
RPC_CLIENT_NODE_NOT_CONNECTED = -29
RPC_CLIENT_INVALID_IP_OR_SUBNET = -30
RPC_CLIENT_P2P_DISABLED = -31

# ---- wallet errors
RPC_WALLET_ERROR = -4
RPC_WALLET_INSUFFICIENT_FUNDS = -6
RPC_WALLET_INVALID_LABEL_NAME = -11
RPC_WALLET_KEYPOOL_RAN_OUT = -12
RPC_WALLET_UNLOCK_NEEDED = -13
RPC_WALLET_PASSPHRASE_INCORRECT = -14
RPC_WALLET_WRONG_ENC_STATE = -15
RPC_WALLET_ENCRYPTION_FAILED = -16
RPC_WALLET_ALREADY_UNLOCKED = -17
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19

#: Core's names, so logs and tests can say which error they mean.
ERROR_NAMES: dict[int, str] = {
    value: name for name, value in dict(globals()).items()
    if name.startswith("RPC_") and isinstance(value, int)
}


class RPCError(Exception):
    """An error reply: Core's ``code`` and ``message`` (what ``JSONRPCError`` builds)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    def __repr__(self) -> str:
        return f"RPCError({ERROR_NAMES.get(self.code, self.code)}, {self.message!r})"


def wallet_not_loaded() -> RPCError:
    """Core's reply to a wallet method when no wallet is loaded."""
    return RPCError(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")


def mempool_disabled() -> RPCError:
    return RPCError(RPC_CLIENT_MEMPOOL_DISABLED, "Mempool disabled or instance not found")


def p2p_disabled() -> RPCError:
    """Core's reply to a network method when networking is off."""
    return RPCError(RPC_CLIENT_P2P_DISABLED,
                    "Error: Peer-to-peer functionality missing or disabled")
