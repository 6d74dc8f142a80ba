"""Shared setup for the origination tests (ProductCatalog + CreditLines).

The tests deploy their own Consortium (so the governed parameters they change never leak into
other test modules through the session's admission Consortium) with real members: a governor,
two lead banks, three partners; an outsider is admitted to the node but is no member here. The
LoanLedger is `LoanLedgerStub`, which records `openLoan` as an event and forwards
`releasePrincipal`, so gas figures show CreditLines' own cost.

Every transaction is signed locally and sent through `TransactionPipeline`; a rejection is
asserted by its decoded custom error (name and every argument) AND by a transaction that is
mined with status 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from client.consortium import ConsortiumClient, Role, parameter_key, roles_mask
from client.contracts import bind, deploy
from client.errors import ContractRevert
from client.lending_math import split_bp
from client.revert import decode_revert
from client.tx import Call, TransactionPipeline

ZERO_ADDRESS = "0x" + "00" * 20
GAS = 3_000_000
DEFAULT_EXPOSURE_CAP = 100_000_000  # 1,000,000 RMB in fen
DAY = 86_400

WELOAN_RATE_BP = 1_800
WELOAN_CAP = 4_000_000  # 40,000 RMB
WELOAN_CEILING = (500_000, 30_000_000)  # 5,000 .. 300,000 RMB
WELOAN_COUNTS = (5, 10, 20)
SURCHARGE_BP = 5_000

P_MAX_RATE = "lending.product.maxRateBp"
P_MAX_CAP = "lending.product.maxSingleDrawCap"
P_MAX_CEILING = "lending.product.maxCeiling"
P_EXPOSURE_CAP = "lending.borrowerExposureCap"
P_LIFETIME = "lending.drawdownLifetime"

COMMITMENT_TYPES = {
    "Commitment": [
        {"name": "drawdownId", "type": "uint64"},
        {"name": "partnerId", "type": "uint32"},
        {"name": "amount", "type": "uint64"},
        {"name": "deadline", "type": "uint64"},
    ]
}

MEMBERS = {
    "governor": (Role.GOVERNOR,),
    "lead": (Role.LEAD_BANK,),
    "lead2": (Role.LEAD_BANK,),
    "p1": (Role.PARTNER,),
    "p2": (Role.PARTNER,),
    "p3": (Role.PARTNER,),
}


def counts_mask(counts: Sequence[int]) -> int:
    return sum(1 << n for n in set(counts))


def borrower_id(label: str) -> bytes:
    """A pseudonymous borrower id (stands in for the off-chain HMAC of a national id)."""
    return bytes(keccak(text=f"borrower:{label}"))


def terms(
    lead: int,
    partners: Sequence[int],
    shares: Sequence[int],
    *,
    name: str = "WeLoan-like",
    rate: int = WELOAN_RATE_BP,
    lead_share: int = 2_000,
    surcharge: int = SURCHARGE_BP,
    mask: int | None = None,
    cap: int = WELOAN_CAP,
    ceiling: tuple[int, int] = WELOAN_CEILING,
) -> tuple[Any, ...]:
    """A `ProductTerms` tuple in ABI order."""
    return (
        name, rate, lead_share, surcharge, counts_mask(WELOAN_COUNTS) if mask is None else mask,
        cap, ceiling[0], ceiling[1], lead, list(partners), list(shares),
    )


def events(contract: Contract, receipt: TxReceipt) -> list[tuple[str, dict[str, Any]]]:
    """Every event `contract` emitted in `receipt`, in log order, as (name, args)."""
    by_topic = {
        keccak(text=f"{e['name']}({','.join(_type(i) for i in e['inputs'])})"): e["name"]
        for e in contract.abi
        if e["type"] == "event"
    }
    out = []
    for log in receipt["logs"]:
        if log["address"] != contract.address:
            continue
        name = by_topic[bytes(log["topics"][0])]
        out.append((name, dict(contract.events[name]().process_log(log)["args"])))
    return out


def _type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@dataclass
class Origination:
    """One deployment: own Consortium, ProductCatalog, CreditLines and the ledger stub."""

    w3: Web3
    chain: Any
    accounts: dict[str, LocalAccount]
    ids: dict[str, int]
    pipelines: dict[str, TransactionPipeline]
    consortium: ConsortiumClient
    catalog: Contract
    lines: Contract
    ledger: Contract
    product: int = 0
    _borrowers: int = field(default=0)

    # -- transactions ------------------------------------------------------------------------

    def call(self, contract: Contract, fn: str, *args: Any, gas: int | None = None) -> Call:
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
        return Call(to=contract.address, data=data, gas=gas, label=fn)

    def send(self, who: str, contract: Contract, fn: str, *args: Any) -> TxReceipt:
        return self.pipelines[who].transact(self.call(contract, fn, *args))

    def rejects(self, who: str, contract: Contract, fn: str, args: Sequence[Any], error: str,
                **expected: Any) -> None:
        """`fn(args)` from `who` reverts with `error(**expected)`, also as a mined transaction."""
        call = self.call(contract, fn, *args)
        with pytest.raises(ContractRevert) as info:
            self.pipelines[who].estimate_gas(call)
        assert (info.value.name, info.value.args_by_name) == (error, expected)
        sent = self.pipelines[who].send(replace(call, gas=GAS))
        receipt = self.w3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=60)  # type: ignore[arg-type]
        assert receipt["status"] == 0, f"{fn} should have failed on chain"

    def govern(self, contract: Contract, fn: str, *args: Any) -> TxReceipt:
        """A governed call `contract.fn(args)` from the Consortium (threshold 1: executes at once)."""
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
        outcome = self.consortium.propose_call(contract.address, data)
        assert outcome.executed
        return outcome.receipt

    def governed_error(self, contract: Contract, fn: str, *args: Any) -> ContractRevert:
        """The error `contract.fn(args)` raises when governance calls it (unwrapped)."""
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
        with pytest.raises(ContractRevert) as info:
            self.consortium.propose_call(contract.address, data)
        outer = info.value
        assert outer.name == "ConsortiumCallFailed", outer
        assert outer.args_by_name["target"] == contract.address
        return decode_revert(outer.args_by_name["reason"])

    def set_parameter(self, name: str, value: int) -> None:
        self.consortium.propose_set_parameter(name, value)

    # -- domain shortcuts --------------------------------------------------------------------

    def new_borrower(self) -> bytes:
        self._borrowers += 1
        return borrower_id(f"{self.lines.address}:{self._borrowers}")

    def open_line(self, limit: int = 10_000_000, *, product: int | None = None, who: str = "lead",
                  borrower: bytes | None = None) -> tuple[int, bytes]:
        borrower = borrower or self.new_borrower()
        receipt = self.send(who, self.lines, "openLine", product or self.product, borrower, limit, 3,
                            keccak(text="model v1"))
        (opened,) = [a for n, a in events(self.lines, receipt) if n == "LineOpened"]
        return int(opened["lineId"]), borrower

    def propose(self, line_id: int, amount: int, installments: int = 10, who: str = "lead") -> tuple[int, TxReceipt]:
        receipt = self.send(who, self.lines, "proposeDrawdown", line_id, amount, installments)
        (proposed,) = [a for n, a in events(self.lines, receipt) if n == "DrawdownProposed"]
        return int(proposed["drawdownId"]), receipt

    def parts(self, drawdown_id: int) -> list[tuple[int, int]]:
        view = self.lines.functions.drawdown(drawdown_id).call()
        return [(int(m), int(a)) for m, a in view[7]]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_past(self, timestamp: int) -> None:
        """Move chain time past `timestamp` (the embedded node adds to wall-clock time)."""
        for _ in range(5):
            if self.now() > timestamp:
                return
            self.chain.increase_time(timestamp - self.now() + 1)
        raise AssertionError(f"chain time stuck at {self.now()}, wanted > {timestamp}")

    # -- EIP-712 -----------------------------------------------------------------------------

    def domain(self, *, chain_id: int | None = None, contract: str | None = None,
               name: str = "coledger CreditLines", version: str = "1") -> dict[str, Any]:
        return {
            "name": name,
            "version": version,
            "chainId": self.w3.eth.chain_id if chain_id is None else chain_id,
            "verifyingContract": to_checksum_address(contract or self.lines.address),
        }

    def typed(self, drawdown_id: int, partner_id: int, amount: int, deadline: int,
              **domain: Any) -> Any:
        message = {"drawdownId": drawdown_id, "partnerId": partner_id, "amount": amount,
                   "deadline": deadline}
        return encode_typed_data(self.domain(**domain), COMMITMENT_TYPES, message)

    def sign(self, signer: str | LocalAccount, drawdown_id: int, partner_id: int, amount: int,
             deadline: int, **domain: Any) -> bytes:
        account = self.accounts[signer] if isinstance(signer, str) else signer
        signed = Account.sign_typed_data(account.key, self.domain(**domain), COMMITMENT_TYPES, {
            "drawdownId": drawdown_id, "partnerId": partner_id, "amount": amount,
            "deadline": deadline})
        return bytes(signed.signature)

    def recovered(self, drawdown_id: int, partner_id: int, amount: int, deadline: int,
                  signature: bytes) -> str:
        """Whom the contract recovers from `signature` over the message it expects."""
        return str(Account.recover_message(self.typed(drawdown_id, partner_id, amount, deadline),
                                           signature=signature))

    def signatures(self, drawdown_id: int, deadline: int | None = None,
                   signers: Sequence[str] = ("p1", "p2")) -> tuple[list[int], list[bytes]]:
        """Valid commitments of every partner of `drawdown_id` (in product order)."""
        deadline = deadline or self.now() + 3_600
        partner_parts = self.parts(drawdown_id)[1:]
        sigs = [self.sign(s, drawdown_id, pid, amount, deadline)
                for s, (pid, amount) in zip(signers, partner_parts, strict=True)]
        return [deadline] * len(sigs), sigs


def deploy_origination(chain: Any, make_account: Callable[..., LocalAccount], label: str,
                       default_exposure_cap: int = DEFAULT_EXPOSURE_CAP) -> Origination:
    """Deploy a Consortium with the standard members, the catalog, the stub ledger and
    CreditLines, and define the WeLoan-like product (lead 20%, p1 40%, p2 40%) by governance."""
    w3 = chain.w3
    accounts = {name: make_account(f"{label}-{name}") for name in (*MEMBERS, "outsider")}
    pipelines = {name: TransactionPipeline(w3, a) for name, a in accounts.items()}
    charter = [(f"{label} {name}", accounts[name].address, roles_mask(roles))
               for name, roles in MEMBERS.items()]
    gov = pipelines["governor"]
    consortium_address = deploy(gov, "Consortium", charter, 1, DAY, [])
    consortium = ConsortiumClient(w3, consortium_address, gov)
    ids = {name: consortium.member_id_of(accounts[name].address) for name in MEMBERS}
    ids["outsider"] = 0
    catalog = bind(w3, "ProductCatalog", deploy(gov, "ProductCatalog", consortium_address))
    ledger = bind(w3, "LoanLedgerStub", deploy(gov, "LoanLedgerStub"))
    lines = bind(w3, "CreditLines", deploy(gov, "CreditLines", consortium_address, catalog.address,
                                           ledger.address, default_exposure_cap))
    o = Origination(w3, chain, accounts, ids, pipelines, consortium, catalog, lines, ledger)
    receipt = o.govern(catalog, "defineProduct",
                       terms(ids["lead"], [ids["p1"], ids["p2"]], [4_000, 4_000]))
    (defined,) = [a for n, a in events(catalog, receipt) if n == "ProductDefined"]
    o.product = int(defined["productId"])
    return o


def expected_split(amount: int, shares: Sequence[int]) -> list[int]:
    """The Python mirror of LendingMath.splitBp (largest remainder)."""
    return split_bp(amount, list(shares))


__all__ = [
    "DAY", "DEFAULT_EXPOSURE_CAP", "GAS", "Origination", "P_EXPOSURE_CAP", "P_LIFETIME",
    "P_MAX_CAP", "P_MAX_CEILING", "P_MAX_RATE", "SURCHARGE_BP", "WELOAN_CAP", "WELOAN_CEILING",
    "WELOAN_COUNTS", "WELOAN_RATE_BP", "ZERO_ADDRESS", "borrower_id", "counts_mask",
    "deploy_origination", "events", "expected_split", "parameter_key", "terms",
]
