"""Smart-meter helpers around the WATT contract (issue 8's "meter helpers").

A certified meter signs each reading itself (``watt.reading_digest``); these methods spare an
integrator the byte layout:

* ``signmeterreading`` — sign a reading with a meter key (for simulators and test benches;
  a real meter signs on the device and never hands its key to a node). Needs no wallet.
* ``submitmeterreading`` — send a signed production reading (mints WATT to the meter's owner)
  or consumption reading (burns the consumer's WATT) to the WATT contract from one wallet coin,
  exactly like ``sendtocontract``.
* ``getmeter`` — a meter's registry record (owner, kind, revoked flag...) at the tip.
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts import abi, call_script
from wattchain.contracts.meters import meter_id
from wattchain.contracts.watt import reading_digest
from wattchain.core.keys import public_key, sign_ecdsa
from wattchain.core.tx import TxOut
from wattchain.rpc.errors import RPC_INVALID_PARAMETER, RPCError
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.methods.contracts import (DEFAULT_CALL_GAS, _GAS_PARAMS, _gas, _send,
                                             parse_account, parse_id, to_json)
from wattchain.rpc.params import ArgType, Param, as_int, parse_hex

KINDS = ("production", "consumption")


def _reading(a: dict[str, Any]) -> tuple[str, int, int, int, int]:
    kind = a["kind"]
    if kind not in KINDS:
        raise RPCError(RPC_INVALID_PARAMETER, "kind must be production or consumption")
    return (kind, as_int(a["intervalstart"], 0), as_int(a["intervalseconds"], 1),
            as_int(a["energy"], 1), as_int(a["counter"], 0))


async def signmeterreading(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    watt = parse_id(a["watt"], "watt")
    key = parse_hex(a["meterkey"], "meterkey")
    if len(key) != 32:
        raise RPCError(RPC_INVALID_PARAMETER, "meterkey must be a 32-byte private key in hex")
    try:
        pubkey = public_key(key)
    except Exception:  # noqa: BLE001 - coincurve rejects zero / out-of-range keys
        raise RPCError(RPC_INVALID_PARAMETER, "meterkey is not a valid private key") from None
    kind, start, seconds, energy, counter = _reading(a)
    consumer = parse_account(ctx, a["consumer"]) if a["consumer"] else b""
    if kind == "consumption" and not consumer:
        raise RPCError(RPC_INVALID_PARAMETER, "a consumption reading names its consumer")
    device = meter_id(pubkey)
    digest = reading_digest(watt, kind, device, start, seconds, energy, counter, consumer)
    return {"device": device.hex(), "pubkey": pubkey.hex(),
            "signature": sign_ecdsa(key, digest).hex()}


async def submitmeterreading(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    watt = parse_id(a["watt"], "watt")
    device = parse_id(a["device"], "device")
    kind, start, seconds, energy, counter = _reading(a)
    signature = parse_hex(a["signature"], "signature")
    if kind == "production":
        call = abi.encode_call("mint_production",
                               [device, start, seconds, energy, counter, signature])
    else:
        if not a["consumer"]:
            raise RPCError(RPC_INVALID_PARAMETER, "a consumption reading names its consumer")
        consumer = parse_account(ctx, a["consumer"])
        call = abi.encode_call("burn_consumption",
                               [device, consumer, start, seconds, energy, counter, signature])
    limit, price = _gas(a, DEFAULT_CALL_GAS)
    return await _send(ctx, TxOut(0, call_script(0, limit, price, call, watt)),
                       a["senderaddress"])


async def getmeter(ctx: RpcContext, a: dict[str, Any]) -> Any:
    registry = parse_id(a["registry"], "registry")
    device = parse_id(a["device"], "device")

    def run() -> Any:
        result = ctx.node.chainstate.call_contract(registry, "meter", [device],
                                                   sender=bytes(20), gas_limit=None)
        if result.status != "ok" and result.excepted:
            raise RPCError(RPC_INVALID_PARAMETER, f"registry call failed: {result.excepted}")
        return to_json(result.result)
    return await ctx.node.call(run)


_READING = (Param("kind", ArgType.STR, description="production or consumption"),
            Param("intervalstart", ArgType.NUM, description="interval start (Unix seconds)"),
            Param("intervalseconds", ArgType.NUM, description="interval length (seconds)"),
            Param("energy", ArgType.NUM, description="energy in WATT base units (1e-8 kWh)"),
            Param("counter", ArgType.NUM, description="the meter's monotonic counter"))
METHODS = (
    RpcMethod("signmeterreading", "contracts", signmeterreading,
              (Param("watt", ArgType.STR_HEX, description="the WATT contract id"),
               Param("meterkey", ArgType.STR_HEX, description="the meter's private key (hex)"),
               *_READING,
               Param("consumer", ArgType.STR, False, None, "consumer (consumption only)")),
              "Sign a meter reading as a meter would (simulators and test benches)."),
    RpcMethod("submitmeterreading", "contracts", submitmeterreading,
              (Param("watt", ArgType.STR_HEX, description="the WATT contract id"),
               Param("device", ArgType.STR_HEX, description="the meter id (40 hex)"),
               *_READING,
               Param("signature", ArgType.STR_HEX, description="the meter's DER signature"),
               Param("consumer", ArgType.STR, False, None, "consumer (consumption only)"),
               *_GAS_PARAMS),
              "Mint (production) or burn (consumption) WATT for a signed meter reading."),
    RpcMethod("getmeter", "contracts", getmeter,
              (Param("registry", ArgType.STR_HEX, description="the MeterRegistry id"),
               Param("device", ArgType.STR_HEX, description="the meter id (40 hex)")),
              "A meter's registry record, or null."),
)
