"""Benchmark: co-lending drawdowns disbursed per second, gas per operation, state per loan.

On a fresh embedded node (`python -m node` subprocess, durable, admission on, block period 0):
1. gas of each operation, from receipts: product definition (by the lead, within governance
   limits), credit line, drawdown (propose + disburse) with 1, 2 and 4 partners, an installment
   repayment, a classification;
2. drawdowns disbursed per second end to end with two partners' EIP-712 signatures: proposals
   sent in JSON-RPC batches, commitments signed by each partner's key, disbursements in batches,
   every receipt durable;
3. state growth per loan: storage slots the lending contracts gained over the run (read from the
   node's SQLite store after it stops, walking each contract's storage trie), x 32 bytes.

Usage: python scripts/bench_lending.py [--loans 200] [--batch 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_canonical_address

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.commitments import sign_commitment  # noqa: E402
from client.consortium import CharterMember, ConsortiumClient, Role, deploy_consortium  # noqa: E402
from client.lending import LendingClient  # noqa: E402
from client.lending_math import schedule  # noqa: E402
from client.products import weloan_terms  # noqa: E402
from client.suite import deploy_lending  # noqa: E402
from client.tx import Call, TransactionPipeline  # noqa: E402
from tests.conftest import free_port, start_embedded_node, wait_for_rpc  # noqa: E402


def count_storage_slots(data_dir: Path, addresses: list[str]) -> int:
    """Non-zero storage slots of `addresses` at the head of a stopped node's store."""
    from trie import HexaryTrie
    from trie.iter import NodeIterator

    from node.store import SqliteStore

    store = SqliteStore(data_dir / "chain.sqlite")
    try:
        reader = store.reader()
        head = reader.execute("SELECT MAX(number) FROM blocks").fetchone()[0]
        raw = reader.execute("SELECT json FROM blocks WHERE number = ?", (head,)).fetchone()[0]
        state_root = bytes.fromhex(json.loads(raw)["stateRoot"][2:])
        state = HexaryTrie(store, state_root)
        total = 0
        for address in addresses:
            account = rlp.decode(state[keccak(to_canonical_address(address))])
            storage = HexaryTrie(store, account[2])
            total += sum(1 for _ in NodeIterator(storage).keys())
        return total
    finally:
        store.close()


def gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    operator: LocalAccount = Account.create()
    lead: LocalAccount = Account.create()
    partners: list[LocalAccount] = [Account.create() for _ in range(4)]
    workdir = Path(tempfile.mkdtemp(prefix="coledger-bench-lending-"))
    port = free_port()
    proc = start_embedded_node(workdir / "node", operator.address, os.urandom(32), port)
    try:
        w3 = wait_for_rpc(f"http://127.0.0.1:{port}", proc)
        op = TransactionPipeline(w3, operator)
        charter = [CharterMember("Operator", operator.address, frozenset({Role.OPERATOR, Role.GOVERNOR})),
                   CharterMember("Lead Bank", lead.address, frozenset({Role.LEAD_BANK}))]
        charter += [CharterMember(f"Partner {i}", p.address, frozenset({Role.PARTNER}))
                    for i, p in enumerate(partners)]
        consortium_address, _ = deploy_consortium(op, charter, threshold=1, proposal_lifetime=86_400)
        governance = ConsortiumClient(w3, consortium_address, op)
        addresses, _ = deploy_lending(op, consortium_address)
        for name, value in (("lending.product.maxRateBp", 3_600),
                            ("lending.product.maxSingleDrawCap", 4_000_000),
                            ("lending.product.maxCeiling", 30_000_000)):
            governance.propose_set_parameter(name, value)
        lead_pipe = TransactionPipeline(w3, lead)
        bank = LendingClient(w3, addresses, lead_pipe)
        partner_ids = [governance.member_id_of(p.address) for p in partners]
        lead_id = governance.member_id_of(lead.address)

        table: list[tuple[str, int]] = []
        products = {}
        for count in (1, 2, 4):
            before = w3.eth.block_number
            products[count] = bank.define_product(weloan_terms(lead_id, partner_ids[:count],
                                                               name=f"WeLoan {count} partners"))
            receipt = w3.eth.get_block(w3.eth.block_number)["transactions"][-1]
            if count == 2:
                table.append(("define product (lead bank, 2 partners)",
                              gas(w3.eth.get_transaction_receipt(receipt))))
            assert w3.eth.block_number > before

        def draw(count: int, borrower: bytes) -> tuple[int, int, int]:
            line = bank.open_line(products[count], borrower, 10_000_000, 3, b"\x01" * 32)
            line_gas = gas(w3.eth.get_transaction_receipt(w3.eth.get_block("latest")["transactions"][-1]))
            d = bank.propose_drawdown(line, 3_000_000, 10)
            signed = {pid: sign_commitment(p, int(w3.eth.chain_id), addresses.CreditLines, d.drawdown_id,
                                           pid, dict(d.parts)[pid], 2**40)
                      for p, pid in zip(partners[:count], partner_ids[:count], strict=True)}
            r = bank.disburse(d, partner_ids[:count], signed)
            return line_gas, gas(d.receipt), gas(r)

        for count in (1, 2, 4):
            line_gas, propose_gas, disburse_gas = draw(count, keccak(text=f"gas-{count}"))
            if count == 1:
                table.append(("open credit line, first of its product (caches the terms)", line_gas))
                typical, _, _ = draw(1, keccak(text="gas-typical-line"))
                table.append(("open credit line, typical", typical))
            table.append((f"drawdown, {count} partner(s): propose + disburse",
                          propose_gas + disburse_gas))
            table.append((f"  of which disburse ({count} signature(s), opens the loan)", disburse_gas))
        rows = schedule(3_000_000, 1_800, 10)
        w3.provider.make_request("evm_mine", [])
        table.append(("repay one installment (3 lenders)", gas(bank.repay(1, rows[0].installment).receipt)))
        classify = bank._send(bank.ledger, "classify", [1])
        table.append(("classify", gas(classify)))

        # -- throughput: drawdowns with two partner signatures, end to end ---------------------
        lines = [bank.open_line(products[2], keccak(text=f"borrower-{i}"), 10_000_000, 3, b"\x02" * 32)
                 for i in range(args.loans)]
        propose_gas = 200_000
        disburse_gas = 400_000
        started = time.perf_counter()
        for start in range(0, args.loans, args.batch):
            chunk = lines[start:start + args.batch]
            calls = [Call(to=addresses.CreditLines, gas=propose_gas,
                          data=bank.call_data(bank.lines, "proposeDrawdown", [line, 3_000_000, 10]))
                     for line in chunk]
            receipts = lead_pipe.wait_many(lead_pipe.send_many(calls))
            events = [bank._event(bank.lines, "DrawdownProposed", r)[0]["args"] for r in receipts]
            disburse_calls = []
            for e in events:
                parts = {int(p["memberId"]): int(p["amount"]) for p in e["parts"]}
                sigs = [sign_commitment(p, int(w3.eth.chain_id), addresses.CreditLines, int(e["drawdownId"]),
                                        pid, parts[pid], 2**40)
                        for p, pid in zip(partners[:2], partner_ids[:2], strict=True)]
                disburse_calls.append(Call(
                    to=addresses.CreditLines, gas=disburse_gas,
                    data=bank.call_data(bank.lines, "disburse", [int(e["drawdownId"]),
                                                                 [s.deadline for s in sigs],
                                                                 [s.signature for s in sigs]])))
            lead_pipe.wait_many(lead_pipe.send_many(disburse_calls))
        elapsed = time.perf_counter() - started
        loans_total = bank.ledger.functions.loanCount().call()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    slots = count_storage_slots(workdir / "node", [addresses.CreditLines, addresses.LoanLedger])

    print(f"embedded node, durable, admission on; {args.loans} drawdowns with 2 partner signatures")
    print(f"drawdowns disbursed end to end: {args.loans} in {elapsed:.2f} s = "
          f"{args.loans / elapsed:.1f} drawdowns/s ({2 * args.loans / elapsed:.0f} tx/s)")
    print(f"state: {slots} storage slots in CreditLines + LoanLedger after {loans_total} loans "
          f"(and {args.loans + 3} lines) = {slots / loans_total:.1f} slots = "
          f"{32 * slots / loans_total:.0f} bytes of slot values per loan incl. its line")
    print()
    print("| operation | gas |")
    print("|---|---:|")
    for name, value in table:
        print(f"| {name} | {value:,} |")


if __name__ == "__main__":
    main()
