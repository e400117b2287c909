"""Qtum's "contract" category: callcontract, gettransactionreceipt, searchlogs, tokenbalance
(read side) and createcontract, sendtocontract, tokentransfer (wallet side).

JSON has no byte strings, so contract arguments and results use one convention: a string
``"0x..."`` is bytes (hex), everything else is passed as JSON gives it (ints, strings, lists,
maps); bytes in results come back as ``"0x..."``. Contract ids and accounts are 40 hex digits
(an account may also be given as an address of a key-hash script).

Sending: the transaction spends ONE wallet coin of a key-hash script (the sender: input 0,
``senderaddress`` or the wallet's largest such coin), pays the contract output, the whole gas
(``gaslimit * gasprice``, gas price in base units) plus the relay fee at the wallet's fee
rate, and returns the change to the sender's script (Qtum's "change to sender" habit, so the
refund and the change land at the same address). A sender coin too small for all of that is
an "Insufficient funds" error.
"""

from __future__ import annotations

from typing import Any

from wattchain.contracts import (ContractFormatError, Receipt, call_script, contract_id,
                                 contract_outputs, create_script, matching_events,
                                 required_gas_fee, sender_account)
from wattchain.contracts import abi
from wattchain.core.tx import Transaction, TxIn, TxOut, txid_to_hex
from wattchain.node.policy import fee_for
from wattchain.rpc.methods.wallet import _resolve_fee_rate, _wallet, submit, wallet_call
from wattchain.script.sign import sign_transaction_inputs
from wattchain.rpc.errors import (RPC_INVALID_ADDRESS_OR_KEY, RPC_INVALID_PARAMETER,
                                  RPC_WALLET_INSUFFICIENT_FUNDS, RPCError)
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.params import ArgType, Param, as_int, parse_hash, parse_hex
from wattchain.script.address import script_from_address


# ------------------------------------------------------------------ conversions
def to_json(value: Any) -> Any:
    """Contract values to JSON: bytes as "0x" hex, containers recursively."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    """JSON arguments to contract values ("0x" strings become bytes)."""
    if isinstance(value, str) and value.startswith("0x"):
        return parse_hex(value[2:], "argument")
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    return value


def parse_id(value: str, name: str) -> bytes:
    """A contract id or account: 40 hex digits (an optional "0x" prefix)."""
    text = value[2:] if value.startswith("0x") else value
    data = parse_hex(text, name)
    if len(data) != 20:
        raise RPCError(RPC_INVALID_PARAMETER, f"{name} must be 20 bytes (40 hex digits)")
    return data


def parse_account(ctx: RpcContext, value: str) -> bytes:
    """An account: 40 hex digits, or an address of a P2PKH/P2WPKH script."""
    try:
        return parse_id(value, "address")
    except RPCError:
        pass
    try:
        script = script_from_address(value, ctx.node.params.address_format)
        return sender_account(script)
    except (ValueError, ContractFormatError):
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address: not a key-hash address "
                                                   "or a 40-hex-digit account") from None


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "transactionHash": txid_to_hex(receipt.txid),
        "outputIndex": receipt.output_index,
        "from": receipt.sender.hex(),
        "contractAddress": receipt.contract_id.hex(),
        "gasLimit": receipt.gas_limit,
        "gasPrice": receipt.gas_price,
        "gasUsed": receipt.gas_used,
        "status": receipt.status,
        "excepted": receipt.excepted or "None",
        "refund": receipt.refund,
        "log": [{"address": e.contract_id.hex(), "topic": e.topic,
                 "data": to_json(abi.unpack(e.data))} for e in receipt.events],
    }


# ------------------------------------------------------------------ handlers
async def callcontract(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    contract = parse_id(a["address"], "address")
    args = from_json(a["args"] or [])
    if not isinstance(args, list):
        raise RPCError(RPC_INVALID_PARAMETER, "args must be an array")
    sender = parse_account(ctx, a["sender"]) if a["sender"] else bytes(20)
    gas = as_int(a["gaslimit"], 1) if a["gaslimit"] is not None else None

    def run() -> dict[str, Any]:
        result = ctx.node.chainstate.call_contract(contract, a["method"], args, sender=sender,
                                                   gas_limit=gas)
        return {"address": contract.hex(), "executionResult": {
            "gasUsed": result.gas_used, "excepted": result.excepted or "None",
            "status": result.status, "output": to_json(result.result)}}
    return await ctx.node.call(run)


async def gettransactionreceipt(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    txid = parse_hash(a["hash"], "hash")
    receipts = await ctx.node.call(lambda: ctx.node.chainstate.get_receipt(txid))
    return [receipt_to_json(r) for r in receipts]


async def searchlogs(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    first = as_int(a["fromBlock"], 0)
    addresses = a["addresses"]
    topics = a["topics"]
    ids = {parse_id(x, "address") for x in addresses} if addresses else None
    wanted = set(topics) if topics else None

    def run() -> list[dict[str, Any]]:
        cs = ctx.node.chainstate
        tip = cs.tip.height
        last = tip if a["toBlock"] in (None, -1) else min(as_int(a["toBlock"], 0), tip)
        out = []
        for height in range(first, last + 1):
            entry = cs.chain.at(height)
            if entry is None:
                break
            block = cs.read_block(entry)
            receipts = [r for tx in block.transactions[2:] for r in cs.get_receipt(tx.txid)]
            matched = matching_events(receipts, ids, wanted)
            seen: list[Receipt] = []
            for receipt, _ in matched:
                if receipt not in seen:
                    seen.append(receipt)
            for receipt in seen:
                item = receipt_to_json(receipt)
                item["blockHash"] = txid_to_hex(entry.hash)
                item["blockNumber"] = height
                out.append(item)
        return out
    return await ctx.node.call(run)


async def tokenbalance(ctx: RpcContext, a: dict[str, Any]) -> Any:
    contract = parse_id(a["token"], "token")
    owner = parse_account(ctx, a["address"])

    def run() -> Any:
        result = ctx.node.chainstate.call_contract(contract, "balanceOf", [owner])
        if result.status != "ok":
            raise RPCError(RPC_INVALID_PARAMETER, f"balanceOf failed: {result.excepted}")
        return result.result
    return await ctx.node.call(run)


# ------------------------------------------------------------------ sending
#: Defaults of the send side (Qtum's: gas limit 250,000 for calls, 2,500,000 for creations).
DEFAULT_CALL_GAS = 250_000
DEFAULT_CREATE_GAS = 2_500_000
#: Witness of a P2WPKH input / scriptSig of a P2PKH one, in vbytes, for the fee estimate.
_SIGNATURE_VBYTES = 110


def build_contract_tx(wallet: Any, out: TxOut, sender_script: bytes | None,
                      fee_rate: int) -> tuple[Transaction, bytes]:
    """A signed transaction: the sender's coin -> ``out`` + change to the sender; and the
    sender's script."""
    wallet.require_unlocked()
    candidates = [c for c in wallet.ledger.coins(script=sender_script)
                  if c.spendable and c.trusted and c.outpoint not in wallet.locked_coins]
    owned = []
    for coin in candidates:
        try:
            sender_account(coin.output.script_pubkey)
        except ContractFormatError:
            continue
        owned.append(coin)
    if not owned:
        raise RPCError(RPC_WALLET_INSUFFICIENT_FUNDS, "No spendable key-hash coin for the sender")
    coin = max(owned, key=lambda c: (c.output.value, c.outpoint.txid, c.outpoint.index))
    gas = required_gas_fee(contract_outputs(Transaction(2, (), (out,), 0)))
    draft = Transaction(2, (TxIn(coin.outpoint, b"", 0xFFFFFFFD),),
                        (out, TxOut(coin.output.value, coin.output.script_pubkey)), 0)
    fee = gas + fee_for(fee_rate, draft.vsize + _SIGNATURE_VBYTES)
    change = coin.output.value - out.value - fee
    if change < 0:
        raise RPCError(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds")
    outputs = (out,) + ((TxOut(change, coin.output.script_pubkey),) if change else ())
    unsigned = Transaction(2, draft.inputs, outputs, 0)
    tx, results = sign_transaction_inputs(unsigned, [coin.output], wallet.keyring)
    if not all(r.complete for r in results):
        raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Signing transaction failed")
    return tx, coin.output.script_pubkey


async def _send(ctx: RpcContext, out: TxOut, sender: Any) -> dict[str, Any]:
    node = ctx.node
    wallet = _wallet(node)
    script = (script_from_address(sender, node.params.address_format)
              if sender else None)
    rate = await _resolve_fee_rate(node, None)
    tx, sender_script = await wallet_call(node, build_contract_tx, wallet, out, script, rate)
    txid = await submit(node, tx)
    return {"txid": txid, "sender": sender_account(sender_script).hex()}


def _gas(a: dict[str, Any], default: int) -> tuple[int, int]:
    limit = as_int(a["gaslimit"], 1) if a["gaslimit"] is not None else default
    price = as_int(a["gasprice"], 1) if a["gasprice"] is not None else 40
    return limit, price


async def createcontract(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    args = from_json(a["args"] or {})
    if not isinstance(args, dict):
        raise RPCError(RPC_INVALID_PARAMETER, "args must be an object")
    limit, price = _gas(a, DEFAULT_CREATE_GAS)
    version = as_int(a["version"], 1) if a["version"] is not None else 1
    out = TxOut(as_int(a["amount"] or 0, 0),
                create_script(0, limit, price, abi.encode_create(a["name"], version, args)))
    result = await _send(ctx, out, a["senderaddress"])
    result["address"] = contract_id(parse_hash(result["txid"], "txid"), 0).hex()
    return result


async def sendtocontract(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    contract = parse_id(a["address"], "address")
    args = from_json(a["args"] or [])
    if not isinstance(args, list):
        raise RPCError(RPC_INVALID_PARAMETER, "args must be an array")
    limit, price = _gas(a, DEFAULT_CALL_GAS)
    out = TxOut(as_int(a["amount"] or 0, 0),
                call_script(0, limit, price, abi.encode_call(a["method"], args), contract))
    return await _send(ctx, out, a["senderaddress"])


async def tokentransfer(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    token = parse_id(a["token"], "token")
    to = parse_account(ctx, a["to"])
    amount = as_int(a["amount"], 1)
    out = TxOut(0, call_script(0, DEFAULT_CALL_GAS, 40, abi.encode_call("transfer", [to, amount]),
                               token))
    return await _send(ctx, out, a["senderaddress"])


_GAS_PARAMS = (Param("gaslimit", ArgType.NUM, False, None, "gas limit"),
               Param("gasprice", ArgType.NUM, False, None, "gas price in base units (40)"),
               Param("senderaddress", ArgType.STR, False, None, "the sender's key-hash address"))

METHODS = (
    RpcMethod("callcontract", "contracts", callcontract,
              (Param("address", ArgType.STR_HEX, description="the contract id (40 hex)"),
               Param("method", ArgType.STR, description="the method to call"),
               Param("args", ArgType.ARR, False, None, "arguments (\"0x..\" strings are bytes)"),
               Param("sender", ArgType.STR, False, None, "the caller's account or address"),
               Param("gaslimit", ArgType.NUM, False, None, "gas limit of the call")),
              "Run a contract method read-only at the tip; nothing is kept."),
    RpcMethod("gettransactionreceipt", "contracts", gettransactionreceipt,
              (Param("hash", ArgType.STR_HEX, description="the transaction id"),),
              "Receipts of a confirmed transaction's contract outputs."),
    RpcMethod("searchlogs", "contracts", searchlogs,
              (Param("fromBlock", ArgType.NUM, description="first height"),
               Param("toBlock", ArgType.NUM, False, -1, "last height (-1: the tip)"),
               Param("addresses", ArgType.ARR, False, None, "contract ids to match"),
               Param("topics", ArgType.ARR, False, None, "event topics to match")),
              "Receipts with events matching the filter, in block order."),
    RpcMethod("tokenbalance", "contracts", tokenbalance,
              (Param("token", ArgType.STR_HEX, description="the token contract id"),
               Param("address", ArgType.STR, description="the owner's account or address")),
              "A QRC20 token balance (base units)."),
    RpcMethod("createcontract", "contracts", createcontract,
              (Param("name", ArgType.STR, description="built-in contract name, e.g. TslToken"),
               Param("args", ArgType.OBJ, False, None, "creation arguments"),
               *_GAS_PARAMS,
               Param("version", ArgType.NUM, False, 1, "contract version"),
               Param("amount", ArgType.NUM, False, 0, "base units sent to the contract")),
              "Create a built-in contract from one wallet coin; returns txid, sender, address."),
    RpcMethod("sendtocontract", "contracts", sendtocontract,
              (Param("address", ArgType.STR_HEX, description="the contract id (40 hex)"),
               Param("method", ArgType.STR, description="the method"),
               Param("args", ArgType.ARR, False, None, "arguments"),
               Param("amount", ArgType.NUM, False, 0, "base units sent with the call"),
               *_GAS_PARAMS),
              "Call a contract method in a transaction from one wallet coin."),
    RpcMethod("tokentransfer", "contracts", tokentransfer,
              (Param("token", ArgType.STR_HEX, description="the token contract id"),
               Param("to", ArgType.STR, description="recipient account or address"),
               Param("amount", ArgType.NUM, description="token base units"),
               Param("senderaddress", ArgType.STR, False, None, "the sender's address")),
              "Transfer QRC20 tokens from one wallet coin's key."),
)
