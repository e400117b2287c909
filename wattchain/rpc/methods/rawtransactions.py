"""Core's "rawtransactions" category: decode, create, look up, test and broadcast transactions.

``getrawtransaction`` without a transaction index (wattchain keeps none, like Core without
``-txindex``) finds mempool transactions, and confirmed ones only when given the ``blockhash``
of the block holding them; otherwise it answers Core's -5 "No such mempool transaction. Use
-txindex or provide a block hash ...".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wattchain.core.errors import DecodeError
from wattchain.core.hashes import hash160
from wattchain.core.tx import OutPoint, Transaction, TxIn, TxOut, txid_to_hex
from wattchain.node.policy import MempoolRejectError
from wattchain.rpc.errors import (RPC_DESERIALIZATION_ERROR, RPC_INVALID_ADDRESS_OR_KEY,
                                  RPC_INVALID_PARAMETER, RPC_VERIFY_ALREADY_IN_CHAIN,
                                  RPC_VERIFY_ERROR, RPC_VERIFY_REJECTED, RPCError,
                                  mempool_disabled)
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.methods.blockchain import verbosity_level
from wattchain.rpc.params import (ArgType, Param, amount_from_value, as_int, parse_hash,
                                  parse_hex)
from wattchain.rpc.txjson import OUTPUT_TYPE_NAMES, amount_to_coins, tx_to_json
from wattchain.script.address import AddressError, address_from_script, script_from_address
from wattchain.script.asm import to_asm
from wattchain.script.opcodes import Op
from wattchain.script.script import parse_ops
from wattchain.script.standard import (TxOutType, is_compressed_pubkey, null_data, p2sh,
                                       p2wpkh, p2wsh, solve)

#: Core's DEFAULT_MAX_RAW_TX_FEE_RATE: 0.10 coins per kvB.
DEFAULT_MAX_FEE_RATE = Decimal("0.10")
#: Core's MAX_PACKAGE_COUNT, the most txs testmempoolaccept takes.
MAX_TEST_ACCEPT = 25


def decode_tx(hex_text: str, try_witness: bool = True, try_no_witness: bool = True
              ) -> Transaction | None:
    """Core's DecodeHexTx: witness serialization first, then legacy; None if neither fits."""
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        return None
    for allow_witness in [w for w, ok in ((True, try_witness), (False, try_no_witness)) if ok]:
        try:
            tx = Transaction.deserialize(raw, allow_witness=allow_witness)
        except DecodeError:
            continue
        if tx.inputs or not raw:
            return tx
    return None


def _require_tx(hex_text: str, message: str = "TX decode failed") -> Transaction:
    tx = decode_tx(hex_text)
    if tx is None:
        raise RPCError(RPC_DESERIALIZATION_ERROR, message)
    return tx


async def decoderawtransaction(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    iswitness = a["iswitness"]
    tx = decode_tx(a["hexstring"], try_witness=iswitness is None or bool(iswitness),
                   try_no_witness=iswitness is None or not iswitness)
    if tx is None:
        raise RPCError(RPC_DESERIALIZATION_ERROR, "TX decode failed")
    return tx_to_json(tx, ctx.node.params.address_format)


async def decodescript(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    script = parse_hex(a["hexstring"], "argument")
    fmt = ctx.node.params.address_format
    kind, solutions = solve(script)
    result: dict[str, Any] = {"asm": to_asm(script), "type": OUTPUT_TYPE_NAMES[kind]}
    address = address_from_script(script, fmt)
    if address is not None:
        result["address"] = address
    if _can_wrap(script, kind):
        result["p2sh"] = address_from_script(p2sh(hash160(script)), fmt)
        segwit = _segwit_wrapping(script, kind, solutions)
        if segwit is not None:
            result["segwit"] = {"asm": to_asm(segwit), "hex": segwit.hex(),
                                "type": OUTPUT_TYPE_NAMES[solve(segwit)[0]],
                                "address": address_from_script(segwit, fmt),
                                "p2sh-segwit": address_from_script(p2sh(hash160(segwit)), fmt)}
    return result


def _can_wrap(script: bytes, kind: TxOutType) -> bool:
    """Core's decodescript rule for offering a P2SH wrapper: not for P2SH, OP_RETURN or
    unknown witness programs, nor for unparsable or unspendable scripts."""
    if kind in (TxOutType.NULL_DATA, TxOutType.SCRIPTHASH, TxOutType.WITNESS_UNKNOWN):
        return False
    if parse_ops(script) is None or (script[:1] == bytes((Op.OP_RETURN,))):
        return False
    return len(script) <= 10_000


def _segwit_wrapping(script: bytes, kind: TxOutType, solutions: list[bytes]) -> bytes | None:
    """The P2WPKH/P2WSH program Core shows under "segwit" (none for witness programs or
    scripts holding uncompressed keys)."""
    if kind in (TxOutType.WITNESS_V0_KEYHASH, TxOutType.WITNESS_V0_SCRIPTHASH):
        return None
    if kind in (TxOutType.MULTISIG, TxOutType.PUBKEY):
        if any(len(s) != 1 and not is_compressed_pubkey(s) for s in solutions):
            return None
    if kind is TxOutType.PUBKEY:
        return p2wpkh(hash160(solutions[0]))
    if kind is TxOutType.PUBKEYHASH:
        return p2wpkh(solutions[0])
    return p2wsh(script)


async def createrawtransaction(ctx: RpcContext, a: dict[str, Any]) -> str:
    params = ctx.node.params
    locktime = as_int(a["locktime"], 0, 0xFFFFFFFF) if a["locktime"] is not None else 0
    replaceable = bool(a["replaceable"])
    inputs = []
    for item in a["inputs"]:
        if not isinstance(item, dict):
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, expected object")
        if not isinstance(item.get("txid"), str):
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, missing txid key")
        txid = parse_hash(item["txid"], "txid")
        if "vout" not in item or isinstance(item["vout"], bool) or not isinstance(
                item["vout"], (int, Decimal)):
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, missing vout key")
        vout = as_int(item["vout"])
        if vout < 0:
            raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        if replaceable:
            sequence = 0xFFFFFFFD
        elif locktime:
            sequence = 0xFFFFFFFE
        else:
            sequence = 0xFFFFFFFF
        if "sequence" in item:
            sequence = as_int(item["sequence"])
            if not 0 <= sequence <= 0xFFFFFFFF:
                raise RPCError(RPC_INVALID_PARAMETER,
                               "Invalid parameter, sequence number is out of range")
        inputs.append(TxIn(OutPoint(txid, vout), b"", sequence))
    outputs = _parse_outputs(a["outputs"], params)
    return Transaction(2, tuple(inputs), tuple(outputs), locktime).to_hex()


def _parse_outputs(raw: Any, params: Any) -> list[TxOut]:
    """Core's outputs argument: an object, or an array of one-key objects (order kept)."""
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, dict) or len(item) != 1:
                raise RPCError(RPC_INVALID_PARAMETER,
                               "Invalid parameter, key-value pair must contain exactly one key")
            pairs.extend(item.items())
    else:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, outputs must be an object "
                                              "or an array")
    seen: set[str] = set()
    outputs = []
    has_data = False
    for key, value in pairs:
        if key == "data":
            if has_data:
                raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, duplicate key: data")
            has_data = True
            if not isinstance(value, str):
                raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, data must be hex")
            outputs.append(TxOut(0, null_data(parse_hex(value, "Data"))))
            continue
        try:
            script = script_from_address(key, params.address_format)
        except AddressError as exc:
            raise RPCError(RPC_INVALID_ADDRESS_OR_KEY,
                           f"Invalid wattchain address: {key} ({exc})") from None
        if key in seen:
            raise RPCError(RPC_INVALID_PARAMETER,
                           f"Invalid parameter, duplicated address: {key}")
        seen.add(key)
        outputs.append(TxOut(amount_from_value(value, params.max_money), script))
    return outputs


async def getrawtransaction(ctx: RpcContext, a: dict[str, Any]) -> Any:
    txid = parse_hash(a["txid"], "parameter 1")
    verbose = verbosity_level(a["verbose"], 0)
    block_hash = parse_hash(a["blockhash"], "parameter 3") if a["blockhash"] else None
    node = ctx.node

    def run() -> Any:
        cs = node.chainstate
        extra: dict[str, Any] = {}
        tx = None
        if block_hash is None:
            if node.mempool is not None:
                tx = node.mempool.get(txid)
            if tx is None:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY,
                               "No such mempool transaction. Use -txindex or provide a block "
                               "hash to enable blockchain transaction queries. Use "
                               "gettransaction for wallet transactions.")
        else:
            entry = cs.index.get(block_hash)
            block = cs.get_block(block_hash) if entry is not None else None
            if entry is None or block is None:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
            tx = next((t for t in block.transactions if t.txid == txid), None)
            if tx is None:
                raise RPCError(RPC_INVALID_ADDRESS_OR_KEY,
                               "No such transaction found in the provided block. Use "
                               "gettransaction for wallet transactions.")
            active = cs.chain.contains(entry)
            extra = {"in_active_chain": active, "blockhash": txid_to_hex(block_hash),
                     "confirmations": cs.chain.height - entry.height + 1 if active else 0,
                     "time": entry.header.time, "blocktime": entry.header.time}
        if verbose <= 0:
            return tx.to_hex()
        result = tx_to_json(tx, node.params.address_format)
        result["hex"] = tx.to_hex()
        if extra:
            in_active = extra.pop("in_active_chain")
            result = {"in_active_chain": in_active, **result, **extra}
        return result
    return await node.call(run)


def _max_fee_rate(value: Any, max_money: int) -> int:
    """maxfeerate in coins/kvB -> base units per kvB (0 disables the check)."""
    return amount_from_value(DEFAULT_MAX_FEE_RATE if value is None else value, max_money)


async def sendrawtransaction(ctx: RpcContext, a: dict[str, Any]) -> str:
    node = ctx.node
    tx = _require_tx(a["hexstring"],
                     "TX decode failed. Make sure the tx has at least one input.")
    max_rate = _max_fee_rate(a["maxfeerate"], node.params.max_money)
    pool = node.mempool
    if pool is None:
        raise mempool_disabled()

    def precheck() -> bool:
        """True if already pooled; raises for already-confirmed and over-fee txs."""
        if pool.contains(tx.txid):
            return True
        cs = node.chainstate
        if any(cs.get_coin(OutPoint(tx.txid, n)) is not None for n in range(len(tx.outputs))):
            raise RPCError(RPC_VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set")
        if max_rate:
            result = pool.test_accept(tx)
            if result.accepted and result.fee > max_rate * result.vsize // 1000:
                raise RPCError(RPC_VERIFY_ERROR, "Fee exceeds maximum configured by user "
                                                 "(e.g. -maxtxfee, maxfeerate)")
        return False

    try:
        if await node.call(precheck):
            return tx.txid_hex
        if node.p2p is not None:
            result = await node.p2p.submit_transaction(tx)
        else:
            result = await node.call(pool.accept, tx)
    except MempoolRejectError as exc:
        raise reject_error(exc) from None
    if result.orphan or not result.accepted:
        raise RPCError(RPC_VERIFY_ERROR, "bad-txns-inputs-missingorspent")
    return tx.txid_hex


def reject_error(exc: MempoolRejectError) -> RPCError:
    """Core's TxValidationState::ToString as a -26 (or -25 for missing inputs) error."""
    message = exc.reason + (f", {exc.detail}" if exc.detail else "")
    if exc.reason == "bad-txns-inputs-missingorspent":
        return RPCError(RPC_VERIFY_ERROR, message)
    if exc.reason == "txn-already-known":
        return RPCError(RPC_VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set")
    return RPCError(RPC_VERIFY_REJECTED, message)


async def testmempoolaccept(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    node = ctx.node
    raw = a["rawtxs"]
    if not 1 <= len(raw) <= MAX_TEST_ACCEPT:
        raise RPCError(RPC_INVALID_PARAMETER,
                       f"Array must contain between 1 and {MAX_TEST_ACCEPT} transactions.")
    txs = []
    for item in raw:
        tx = decode_tx(item) if isinstance(item, str) else None
        if tx is None:
            raise RPCError(RPC_DESERIALIZATION_ERROR,
                           f"TX decode failed: {item} Make sure the tx has at least one input.")
        txs.append(tx)
    max_rate = _max_fee_rate(a["maxfeerate"], node.params.max_money)
    pool = node.mempool
    if pool is None:
        raise mempool_disabled()

    def run() -> list[dict[str, Any]]:
        results = []
        for tx in txs:
            entry: dict[str, Any] = {"txid": tx.txid_hex, "wtxid": txid_to_hex(tx.wtxid)}
            try:
                outcome = pool.test_accept(tx)
            except MempoolRejectError as exc:
                entry.update(allowed=False, **{"reject-reason": exc.reason})
                results.append(entry)
                continue
            if not outcome.accepted:
                entry.update(allowed=False, **{"reject-reason": outcome.reason or "missing-inputs"})
            elif max_rate and outcome.fee > max_rate * outcome.vsize // 1000:
                entry.update(allowed=False, **{"reject-reason": "max-fee-exceeded"})
            else:
                rate = amount_to_coins(outcome.fee * 1000 // outcome.vsize)
                entry.update(allowed=True, vsize=outcome.vsize,
                             fees={"base": amount_to_coins(outcome.fee),
                                   "effective-feerate": rate,
                                   "effective-includes": [txid_to_hex(tx.wtxid)]})
            results.append(entry)
        return results
    return await node.call(run)


_HEX = Param("hexstring", ArgType.STR_HEX, description="the transaction hex string")
_MAXFEE = Param("maxfeerate", ArgType.AMOUNT, False, "0.10",
                "reject transactions whose fee rate is higher (coins/kvB); 0 accepts any")

METHODS = (
    RpcMethod("createrawtransaction", "rawtransactions", createrawtransaction,
              (Param("inputs", ArgType.ARR, description='[{"txid":hex,"vout":n,'
                     '"sequence":n},...]'),
               Param("outputs", ArgType.ANY, description='{"address":amount,"data":"hex"} '
                     'or an array of such one-key objects'),
               Param("locktime", ArgType.NUM, False, 0, "raw locktime"),
               Param("replaceable", ArgType.BOOL, False, False, "signal BIP125 replaceability")),
              "Create an unsigned transaction spending the given inputs; returns its hex."),
    RpcMethod("decoderawtransaction", "rawtransactions", decoderawtransaction,
              (_HEX, Param("iswitness", ArgType.BOOL, False, None,
                           "whether the hex is a serialized witness transaction")),
              "Return a JSON object representing the serialized transaction."),
    RpcMethod("decodescript", "rawtransactions", decodescript,
              (Param("hexstring", ArgType.STR_HEX, description="the hex-encoded script"),),
              "Decode a hex-encoded script (type, asm, address, p2sh and segwit wrappings)."),
    RpcMethod("getrawtransaction", "rawtransactions", getrawtransaction,
              (Param("txid", ArgType.STR_HEX, description="the transaction id"),
               Param("verbose", ArgType.NUM_OR_BOOL, False, 0,
                     "0 for hex, 1 for a json object"),
               Param("blockhash", ArgType.STR_HEX, False, None,
                     "the block in which to look for the transaction")),
              "Return a mempool transaction, or a confirmed one given the hash of its block "
              "(there is no transaction index)."),
    RpcMethod("sendrawtransaction", "rawtransactions", sendrawtransaction, (_HEX, _MAXFEE),
              "Submit a raw transaction to the local node and network; returns its txid."),
    RpcMethod("testmempoolaccept", "rawtransactions", testmempoolaccept,
              (Param("rawtxs", ArgType.ARR, description="raw transaction hex strings"),
               _MAXFEE),
              "Returns whether each raw transaction would be accepted by the mempool "
              "(each tested on its own against the current pool, not as a package)."),
)
