"""Core's "wallet" category, translated onto :class:`wattchain.wallet.Wallet`.

Every handler runs the wallet on the chainstate thread (the wallet follows chain events there
and is not thread-safe). Wallet exceptions carry Core's code as ``rpc_code`` (see
:mod:`wattchain.wallet.errors`) and become that error; with no wallet loaded every method is
-18 "Requested wallet does not exist or is not loaded". Transactions the wallet builds
(sendtoaddress, sendmany) are submitted like sendrawtransaction: relayed through the P2P node
when there is one, else accepted into the local mempool.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from wattchain.core.tx import OutPoint, Transaction, TxOut
from wattchain.node.policy import MempoolRejectError
from wattchain.rpc.errors import (RPC_DESERIALIZATION_ERROR, RPC_INVALID_PARAMETER,
                                  RPC_METHOD_DEPRECATED, RPC_VERIFY_ERROR, RPCError,
                                  wallet_not_loaded)
from wattchain.rpc.methods.base import RpcContext, RpcMethod
from wattchain.rpc.methods.rawtransactions import decode_tx, reject_error
from wattchain.rpc.methods.util import estimate_fee_rate
from wattchain.rpc.params import (ArgType, Param, amount_from_value, as_int, parse_hash,
                                  parse_hex)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from wattchain.node.services import NodeServices


def _wallet(node: "NodeServices") -> Any:
    if node.wallet is None:
        raise wallet_not_loaded()
    return node.wallet


async def wallet_call(node: "NodeServices", fn: Callable[..., Any], *args: Any,
                      **kwargs: Any) -> Any:
    """Run a wallet function on the chainstate thread; WalletError -> RPCError(rpc_code)."""
    try:
        return await node.call(fn, *args, **kwargs)
    except RPCError:
        raise
    except Exception as exc:
        code = getattr(exc, "rpc_code", None)
        if isinstance(code, int):
            raise RPCError(code, str(exc)) from exc
        raise


async def submit(node: "NodeServices", tx: Transaction) -> str:
    """Hand a wallet-built tx to the network (or the mempool) and tell the wallet."""
    try:
        if node.p2p is not None:
            result = await node.p2p.submit_transaction(tx)
        elif node.mempool is not None:
            result = await node.call(node.mempool.accept, tx)
        else:
            return tx.txid_hex
    except MempoolRejectError as exc:
        raise reject_error(exc) from None
    if not result.accepted:
        raise RPCError(RPC_VERIFY_ERROR, "bad-txns-inputs-missingorspent")
    added = getattr(node.wallet, "transaction_added", None)
    if added is not None:
        await node.call(added, tx)
    return tx.txid_hex


def _fee_rate_from_args(node: "NodeServices", sat_per_vb: Any, coins_per_kvb: Any = None
                        ) -> int | None:
    """Core's ``fee_rate`` (sat/vB, up to 3 decimals) or ``feeRate`` (coins/kvB) -> base units
    per kvB; None when neither is given."""
    if sat_per_vb is not None and coins_per_kvb is not None:
        raise RPCError(RPC_INVALID_PARAMETER, "Cannot specify both fee_rate (sat/vB) and "
                                              "feeRate (BTC/kvB)")
    if sat_per_vb is not None:
        if isinstance(sat_per_vb, bool) or not isinstance(sat_per_vb, (int, Decimal, str)):
            raise RPCError(-3, "Amount is not a number or string")
        try:
            rate = Decimal(sat_per_vb) * 1000
        except ArithmeticError:
            raise RPCError(-3, "Invalid amount") from None
        if rate < 0 or rate != rate.to_integral_value():
            raise RPCError(-3, "Invalid amount")
        return int(rate)
    if coins_per_kvb is not None:
        return amount_from_value(coins_per_kvb, node.params.max_money)
    return None


def default_fee_rate(node: "NodeServices") -> int:
    """The rate used when the caller gives none: the mempool estimate for 6 blocks, floored at
    the pool's minimum fee (at least Core's 1000 base units per kvB)."""
    pool = node.mempool
    if pool is None:
        return 1000
    estimate = estimate_fee_rate(pool, 6, node.params.max_block_weight // 4)
    floor = max(pool.info().mempoolminfee, pool.policy.min_relay_fee_rate)
    return max(estimate or 0, floor)


async def _resolve_fee_rate(node: "NodeServices", rate: int | None) -> int:
    return rate if rate is not None else await node.call(default_fee_rate, node)


def _amount(node: "NodeServices", value: Any) -> int:
    amount = amount_from_value(value, node.params.max_money)
    if amount <= 0:
        raise RPCError(-3, "Invalid amount for send")
    return amount


# ------------------------------------------------------------------ handlers
async def getnewaddress(ctx: RpcContext, a: dict[str, Any]) -> str:
    wallet = _wallet(ctx.node)
    if a["address_type"] not in (None, "bech32"):
        raise RPCError(RPC_INVALID_PARAMETER, f"Unknown address type '{a['address_type']}'")
    return await wallet_call(ctx.node, wallet.get_new_address, a["label"] or "")


async def getbalance(ctx: RpcContext, a: dict[str, Any]) -> Decimal:
    wallet = _wallet(ctx.node)
    if a["dummy"] not in (None, "*"):
        raise RPCError(RPC_METHOD_DEPRECATED,
                       'dummy first argument must be excluded or set to "*".')
    return await wallet_call(ctx.node, wallet.get_balance)


async def getbalances(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.get_balances)


async def listunspent(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    wallet = _wallet(ctx.node)
    rows = await wallet_call(ctx.node, wallet.list_unspent, as_int(a["minconf"]),
                             as_int(a["maxconf"]))
    wanted = a["addresses"]
    if wanted:
        rows = [r for r in rows if r.get("address") in set(wanted)]
    return rows


async def listtransactions(ctx: RpcContext, a: dict[str, Any]) -> list[dict[str, Any]]:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.list_transactions, as_int(a["count"]),
                             as_int(a["skip"]))


async def sendtoaddress(ctx: RpcContext, a: dict[str, Any]) -> str:
    node = ctx.node
    wallet = _wallet(node)
    amount = _amount(node, a["amount"])
    rate = await _resolve_fee_rate(node, _fee_rate_from_args(node, a["fee_rate"]))
    tx = await wallet_call(node, wallet.send_to_address, a["address"], amount, rate,
                           subtract_fee_from_amount=bool(a["subtractfeefromamount"]))
    return await submit(node, tx)


async def sendmany(ctx: RpcContext, a: dict[str, Any]) -> str:
    node = ctx.node
    wallet = _wallet(node)
    if a["dummy"] not in (None, ""):
        raise RPCError(RPC_INVALID_PARAMETER, 'Dummy value must be set to ""')
    if not a["amounts"]:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, amounts must be a non-empty "
                                              "object")
    outputs = [(addr, _amount(node, v)) for addr, v in a["amounts"].items()]
    rate = await _resolve_fee_rate(node, _fee_rate_from_args(node, a["fee_rate"]))
    tx = await wallet_call(node, wallet.send_many, outputs, rate,
                           subtract_fee_from=tuple(a["subtractfeefrom"] or ()))
    return await submit(node, tx)


async def addmultisigaddress(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.add_multisig_address, as_int(a["nrequired"]),
                             list(a["keys"]), a["label"] or "")


async def signrawtransactionwithwallet(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = ctx.node
    wallet = _wallet(node)
    tx = decode_tx(a["hexstring"])
    if tx is None:
        raise RPCError(RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at "
                                                  "least one input.")
    prevouts = {}
    for item in a["prevtxs"] or []:
        if not isinstance(item, dict):
            raise RPCError(RPC_INVALID_PARAMETER, "expected object with {\"txid'\",\"vout\"}")
        outpoint = OutPoint(parse_hash(str(item.get("txid", "")), "txid"),
                            as_int(item.get("vout", -1), 0))
        script = parse_hex(str(item.get("scriptPubKey", "")), "scriptPubKey")
        if "amount" not in item:
            raise RPCError(RPC_INVALID_PARAMETER, "Missing amount")
        prevouts[outpoint] = TxOut(amount_from_value(item["amount"], node.params.max_money),
                                   script)
    signed, complete = await wallet_call(node, wallet.sign_raw_transaction, tx, prevouts)
    return {"hex": signed.to_hex(), "complete": complete}


def _psbt_outputs(node: "NodeServices", raw: Any) -> list[tuple[str, int]]:
    pairs: list[tuple[str, Any]]
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(i, dict) and len(i) == 1 for i in raw):
        pairs = [next(iter(i.items())) for i in raw]
    else:
        raise RPCError(RPC_INVALID_PARAMETER, "Invalid parameter, outputs must be an object or "
                                              "an array of one-key objects")
    if any(address == "data" for address, _ in pairs):
        raise RPCError(RPC_INVALID_PARAMETER, "data outputs are not supported by this wallet")
    return [(address, _amount(node, value)) for address, value in pairs]


async def walletcreatefundedpsbt(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    node = ctx.node
    wallet = _wallet(node)
    if a["inputs"]:
        raise RPCError(RPC_INVALID_PARAMETER, "preset inputs are not supported: pass [] and "
                                              "let the wallet select coins")
    options = a["options"] or {}
    known = {"changeAddress", "includeWatching", "lockUnspents", "fee_rate", "feeRate",
             "subtractFeeFromOutputs", "replaceable"}
    for key in options:
        if key not in known:
            raise RPCError(RPC_INVALID_PARAMETER, f"Unexpected key {key}")
    outputs = _psbt_outputs(node, a["outputs"])
    rate = await _resolve_fee_rate(node, _fee_rate_from_args(node, options.get("fee_rate"),
                                                             options.get("feeRate")))
    return await wallet_call(
        node, wallet.wallet_create_funded_psbt, outputs, rate,
        subtract_fee_from=[as_int(i) for i in options.get("subtractFeeFromOutputs", [])],
        change_address=options.get("changeAddress"),
        include_watching=bool(options.get("includeWatching", True)),
        lock_unspents=bool(options.get("lockUnspents", False)),
        rbf=bool(options.get("replaceable", True)),
        bip32derivs=bool(a["bip32derivs"]))


async def walletprocesspsbt(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.wallet_process_psbt, a["psbt"], bool(a["sign"]),
                             parse_sighash(a["sighashtype"]), bool(a["bip32derivs"]),
                             bool(a["finalize"]))


_SIGHASH = {"ALL": 1, "NONE": 2, "SINGLE": 3, "ALL|ANYONECANPAY": 0x81,
            "NONE|ANYONECANPAY": 0x82, "SINGLE|ANYONECANPAY": 0x83}


def parse_sighash(text: str | None) -> int | None:
    """Core's ParseSighashString ("DEFAULT" -> None: the signer's default, SIGHASH_ALL)."""
    if text is None or text == "DEFAULT":
        return None
    if text not in _SIGHASH:
        raise RPCError(RPC_INVALID_PARAMETER, f"'{text}' is not a valid sighash parameter.")
    return _SIGHASH[text]


async def dumpprivkey(ctx: RpcContext, a: dict[str, Any]) -> str:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.dump_privkey, a["address"])


async def importprivkey(ctx: RpcContext, a: dict[str, Any]) -> None:
    wallet = _wallet(ctx.node)
    await wallet_call(ctx.node, wallet.import_privkey, a["privkey"], a["label"] or "",
                      bool(a["rescan"]))
    return None


async def getwalletinfo(ctx: RpcContext, a: dict[str, Any]) -> dict[str, Any]:
    wallet = _wallet(ctx.node)
    return await wallet_call(ctx.node, wallet.wallet_info)


async def walletpassphrase(ctx: RpcContext, a: dict[str, Any]) -> None:
    wallet = _wallet(ctx.node)
    timeout = as_int(a["timeout"])
    if timeout < 0:
        raise RPCError(RPC_INVALID_PARAMETER, "Timeout cannot be negative.")
    if not a["passphrase"]:
        raise RPCError(RPC_INVALID_PARAMETER, "passphrase can not be empty")
    await wallet_call(ctx.node, wallet.unlock, a["passphrase"], timeout,
                      staking_only=bool(a["stakingonly"]))
    return None


async def walletlock(ctx: RpcContext, a: dict[str, Any]) -> None:
    wallet = _wallet(ctx.node)
    await wallet_call(ctx.node, wallet.lock)
    return None


def _p(name: str, kind: ArgType, required: bool = True, default: Any = None,
       text: str = "") -> Param:
    return Param(name, kind, required, default, text)


_W = "wallet"
METHODS = (
    RpcMethod("addmultisigaddress", _W, addmultisigaddress,
              (_p("nrequired", ArgType.NUM), _p("keys", ArgType.ARR),
               _p("label", ArgType.STR, False)),
              "Add an nrequired-to-sign P2WSH multisig address to the wallet (keys in the "
              "given order)."),
    RpcMethod("dumpprivkey", _W, dumpprivkey, (_p("address", ArgType.STR),),
              "Reveals the private key (WIF) corresponding to 'address'."),
    RpcMethod("getbalance", _W, getbalance,
              (_p("dummy", ArgType.STR, False), _p("minconf", ArgType.NUM, False, 0),
               _p("include_watchonly", ArgType.BOOL, False, True),
               _p("avoid_reuse", ArgType.BOOL, False, True)),
              "Returns the total available balance."),
    RpcMethod("getbalances", _W, getbalances, (),
              "Returns an object with all balances (trusted, untrusted_pending, immature, "
              "staked)."),
    RpcMethod("getnewaddress", _W, getnewaddress,
              (_p("label", ArgType.STR, False, ""), _p("address_type", ArgType.STR, False,
                                                       "bech32")),
              "Returns a new bech32 (P2WPKH) address for receiving payments."),
    RpcMethod("getwalletinfo", _W, getwalletinfo, (), "Returns wallet state info."),
    RpcMethod("importprivkey", _W, importprivkey,
              (_p("privkey", ArgType.STR), _p("label", ArgType.STR, False, ""),
               _p("rescan", ArgType.BOOL, False, True)),
              "Adds a private key (WIF) to the wallet."),
    RpcMethod("listtransactions", _W, listtransactions,
              (_p("label", ArgType.STR, False, "*"), _p("count", ArgType.NUM, False, 10),
               _p("skip", ArgType.NUM, False, 0),
               _p("include_watchonly", ArgType.BOOL, False, True)),
              "Returns up to 'count' most recent transactions skipping the first 'skip'."),
    RpcMethod("listunspent", _W, listunspent,
              (_p("minconf", ArgType.NUM, False, 1), _p("maxconf", ArgType.NUM, False, 9999999),
               _p("addresses", ArgType.ARR, False)),
              "Returns array of unspent transaction outputs."),
    RpcMethod("sendmany", _W, sendmany,
              (_p("dummy", ArgType.STR, False, ""), _p("amounts", ArgType.OBJ),
               _p("minconf", ArgType.NUM, False), _p("comment", ArgType.STR, False),
               _p("subtractfeefrom", ArgType.ARR, False),
               _p("replaceable", ArgType.BOOL, False, True),
               _p("conf_target", ArgType.NUM, False), _p("estimate_mode", ArgType.STR, False),
               _p("fee_rate", ArgType.AMOUNT, False, None, "sat/vB")),
              "Send to multiple addresses; returns the txid."),
    RpcMethod("sendtoaddress", _W, sendtoaddress,
              (_p("address", ArgType.STR), _p("amount", ArgType.AMOUNT),
               _p("comment", ArgType.STR, False), _p("comment_to", ArgType.STR, False),
               _p("subtractfeefromamount", ArgType.BOOL, False, False),
               _p("replaceable", ArgType.BOOL, False, True),
               _p("conf_target", ArgType.NUM, False), _p("estimate_mode", ArgType.STR, False),
               _p("avoid_reuse", ArgType.BOOL, False, True),
               _p("fee_rate", ArgType.AMOUNT, False, None, "sat/vB")),
              "Send an amount to a given address; returns the txid."),
    RpcMethod("signrawtransactionwithwallet", _W, signrawtransactionwithwallet,
              (_p("hexstring", ArgType.STR_HEX), _p("prevtxs", ArgType.ARR, False)),
              "Sign inputs for a raw transaction with the wallet's keys."),
    RpcMethod("walletcreatefundedpsbt", _W, walletcreatefundedpsbt,
              (_p("inputs", ArgType.ARR, False), _p("outputs", ArgType.ANY),
               _p("locktime", ArgType.NUM, False, 0), _p("options", ArgType.OBJ, False),
               _p("bip32derivs", ArgType.BOOL, False, True)),
              "Creates and funds a PSBT with the wallet's coins (inputs optional)."),
    RpcMethod("walletlock", _W, walletlock, (), "Removes the wallet encryption key from memory."),
    RpcMethod("walletpassphrase", _W, walletpassphrase,
              (_p("passphrase", ArgType.STR), _p("timeout", ArgType.NUM),
               _p("stakingonly", ArgType.BOOL, False, False, "unlock for staking only (Qtum)")),
              "Stores the wallet decryption key in memory for 'timeout' seconds."),
    RpcMethod("walletprocesspsbt", _W, walletprocesspsbt,
              (_p("psbt", ArgType.STR), _p("sign", ArgType.BOOL, False, True),
               _p("sighashtype", ArgType.STR, False, "DEFAULT"),
               _p("bip32derivs", ArgType.BOOL, False, True),
               _p("finalize", ArgType.BOOL, False, True)),
              "Update a PSBT with wallet data and sign the inputs it can."),
)
