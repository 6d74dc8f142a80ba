"""`coledger evidence ...` in-process against the test chain: every command, its output and exit codes."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from arbitration.bundle import Anchor, Bundle, build_bundle, dump_bundle
from arbitration.submit import EvidenceSubmitter, case_id32
from arbitration.vault import EvidenceVault
from client.cli import main
from client.evidence_chain import BatchAnchored, CaseStatus, ItemAnchored
from client.keys import PASSWORD_ENV, Keystore

from ._chain_env import EvidenceEnv, deploy_evidence_env

pytestmark = pytest.mark.slow
PASSWORD = "test keystore password"


@pytest.fixture(scope="module")
def env(w3: Web3, chain: Any, make_account: Callable[..., LocalAccount]) -> EvidenceEnv:
    return deploy_evidence_env(w3, chain, make_account, "cli")


@pytest.fixture()
def data_dir(env: EvidenceEnv, chain: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir as `coledger node start` leaves it: deployment.json and the members' keystores."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    data = tmp_path / "data"
    keystore = Keystore(data / "keystore", PASSWORD)
    s = env.servicing
    for name, account in (("lead-bank", s.lead.account), ("partner-a", s.partner1.account),
                          ("arbitrator", env.arbitrator)):
        keystore.create(name, bytes(account.key))
    (data / "deployment.json").write_text(json.dumps({"chain_id": env.w3.eth.chain_id, "rpc_url": chain.url,
        "contracts": {"Consortium": s.consortium.address, "LoanLedger": s.ledger.address,
                      "EvidenceRegistry": env.registry, "ArbitrationCases": env.cases}}))
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


def _anchor(w3: Web3, contract: str, event: ItemAnchored | BatchAnchored) -> Anchor:
    block = w3.eth.get_block(event.block_number)
    return Anchor(int(w3.eth.chain_id), bytes.fromhex(contract[2:]), event.block_number,
                  bytes.fromhex(event.block_hash[2:]), bytes.fromhex(event.tx_hash[2:]), int(block["timestamp"]),
                  bytes.fromhex(event.submitter[2:]))


def loan_bundle(env: EvidenceEnv, vault: EvidenceVault, loan_id: int, case_id: int | None = None) -> Bundle:
    """Every item of the loan, batch by batch in anchoring order, anchors filled from the chain's events."""
    sub = EvidenceSubmitter(env.w3, env.registry, env.cases, env.lead, vault, env.pipeline(env.lead))
    registry = env.registry_client()
    events = list(registry.events())
    batches: list[tuple[list[Any], Anchor]] = []
    for it in sub.anchored_items(loan_id):
        if it.batch_root is None:
            event = next(e for e in events if isinstance(e, ItemAnchored) and e.evidence_id == it.evidence_id)
            batches.append(([it.stored.record], _anchor(env.w3, env.registry, event)))
        elif not batches or batches[-1][0][0].evidence_id not in (vault.batch(it.batch_root) or []):
            event = next(e for e in events if isinstance(e, BatchAnchored) and e.root == it.batch_root)
            records = [vault.record(e).record for e in vault.batch(it.batch_root) or []]
            batches.append((records, _anchor(env.w3, env.registry, event)))
    loan32 = loan_id.to_bytes(32, "big")
    include = {r.evidence_id for records, _ in batches for r in records if r.loan_id == loan32}
    return build_bundle(batches, include, None if case_id is None else case_id32(case_id))


def test_the_evidence_workflow_from_the_command_line(
    env: EvidenceEnv, chain: Any, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(data_dir)]
    loan_id = env.defaulted_loan()
    out = ok(capsys, "evidence", "register-key", *d, "--as", "arbitrator")
    assert re.fullmatch(rf"reader key 0x[0-9a-f]{{64}} of arbitrator \({env.arbitrator.address}\): "
                        r"(already )?registered\n", out)
    assert "already registered" in ok(capsys, "evidence", "register-key", *d, "--as", "arbitrator")

    notice = tmp_path / "notice.txt"
    notice.write_bytes(b"Final overdue notice, sent by registered mail.")
    out = ok(capsys, "evidence", "submit", *d, "--as", "lead-bank", "--loan", str(loan_id), "--kind",
             "overdue-notice", "--collected", "registered mail receipt", str(notice))
    first = re.search(r"evidence (0x[0-9a-f]{64}) anchored", out)
    assert first is not None and f"loan {loan_id}, overdue_notice, 46 bytes (text/plain)" in out
    assert f"prev 0x{'00' * 32}" in out

    files = []
    for i in range(3):
        f = tmp_path / f"call-{i}.log"
        f.write_bytes(f"call {i}: no answer".encode())
        files.append(str(f))
    out = ok(capsys, "evidence", "anchor-batch", *d, "--as", "lead-bank", "--loan", str(loan_id), "--kind",
             "collection_log", *files)
    assert re.search(r"batch \d+ anchored: root 0x[0-9a-f]{64}, 3 items", out)
    leaves = re.findall(r"leaf \d: (0x[0-9a-f]{64})", out)
    assert len(leaves) == 3

    out = ok(capsys, "evidence", "open-case", *d, "--as", "lead-bank", "--loan", str(loan_id),
             "--arbitrator", "arbitration commission")
    m = re.search(r"case (\d+) opened on loan \d+: arbitrator (0x[0-9a-fA-F]{40})", out)
    assert m is not None and m.group(2) == env.arbitrator.address and ", 4 items" in out
    case_id = int(m.group(1))

    plain = tmp_path / "out" / "notice.txt"
    out = ok(capsys, "evidence", "open", first.group(1), *d, "--as", "arbitrator", "--out", str(plain))
    assert plain.read_bytes() == notice.read_bytes() and "46 bytes written" in out
    code, _, err = run(capsys, "evidence", "open", first.group(1), *d, "--as", "arbitrator", "--out", str(plain))
    assert (code, err.count("\n")) == (2, 1) and "exists" in err
    code, _, err = run(capsys, "evidence", "open", leaves[0], *d, "--as", "partner-a", "--out",
                       str(tmp_path / "x"))
    assert (code, err.count("\n")) == (2, 1) and "no key wrapped for reader" in err

    award = tmp_path / "award.pdf"
    award.write_bytes(b"%PDF award: the borrower pays")
    out = ok(capsys, "evidence", "award", *d, "--as", "arbitrator", "--case", str(case_id), "--award-file",
             str(award))
    info = env.cases_client().case(case_id)
    assert info.status == CaseStatus.AWARDED and info.award_hash == hashlib.sha256(award.read_bytes()).digest()
    assert f"award hash 0x{info.award_hash.hex()}" in out

    vault = EvidenceVault(data_dir / "evidence")
    bundle_file = tmp_path / "case.json"
    bundle = loan_bundle(env, vault, loan_id, case_id)
    bundle_file.write_bytes(dump_bundle(bundle))
    out = ok(capsys, "evidence", "verify", str(bundle_file))
    assert out.startswith(f"bundle OK: 4 item(s) in 2 batch(es), case {case_id}\n")
    assert f"loan {loan_id}: hash chain intact from the loan's first item" in out

    case_zip = tmp_path / "case.zip"
    case_zip.write_bytes(case_zip_of(env, data_dir, tmp_path, case_id))
    out = ok(capsys, "evidence", "verify", str(case_zip))
    assert "ciphertexts: 4 of 4 present" in out
    assert f"case {case_id}: loan {loan_id}, 4 items frozen at opening" in out
    assert f"award: signed by the arbitrator {env.arbitrator.address}" in out
    out = ok(capsys, "evidence", "verify", str(case_zip), "--rpc", chain.url)
    assert "anchors: 2 batch anchor(s) found on the chain at" in out
    code, _, err = run(capsys, "evidence", "verify", str(case_zip), "--rpc", "http://127.0.0.1:9")
    assert code == 2 and err.startswith("coledger: error: cannot query the chain")

    def rezip(change: Callable[[dict[str, bytes]], None]) -> Path:
        with zipfile.ZipFile(case_zip) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        change(members)
        path = tmp_path / "changed.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for n, data in members.items():
                zf.writestr(n, data)
        return path

    cipher = f"ciphertexts/{bundle.items[1].record.ciphertext_sha256.hex()}.bin"
    second = "0x" + bundle.items[1].record.evidence_id.hex()
    def flip(m: dict[str, bytes]) -> None:
        m[cipher] = m[cipher][:-1] + bytes([m[cipher][-1] ^ 1])
    def drop(m: dict[str, bytes]) -> None:
        del m[cipher]
    def refreeze(m: dict[str, bytes]) -> None:
        doc = json.loads(m["case.json"])
        m["case.json"] = json.dumps({**doc, "frozen_count": 3}).encode()
    def forge(m: dict[str, bytes]) -> None:
        doc = json.loads(m["case.json"])
        doc["award"]["signature"] = "0x" + "11" * 65
        m["case.json"] = json.dumps(doc).encode()
    for change, expected in ((flip, f"item {second}: ciphertext_sha256"), (drop, f"item {second}: ciphertext_missing"),
                             (refreeze, "frozen_set"), (forge, "award signature")):
        code, out, err = run(capsys, "evidence", "verify", str(rezip(change)))
        assert (code, out) == (1, "") and err.startswith("VERIFICATION FAILED: ") and expected in err, err


def case_zip_of(env: EvidenceEnv, data_dir: Path, tmp_path: Path, case_id: int) -> bytes:
    """The case zip as the service builds it (arbitration.index + arbitration.proofs)."""
    from arbitration.index import EvidenceIndex
    from arbitration.proofs import case_bundle_zip

    vault = EvidenceVault(data_dir / "evidence")
    s = env.servicing
    index = EvidenceIndex(str(tmp_path / "index.sqlite3"), env.w3, {
        "EvidenceRegistry": env.registry, "ArbitrationCases": env.cases, "LoanLedger": s.ledger.address}, vault)
    with index:
        index.sync()
        return case_bundle_zip(index, vault, case_id)


def test_cli_errors_are_one_line_with_exit_status_2(
    env: EvidenceEnv, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(data_dir)]
    f = tmp_path / "f.txt"
    f.write_text("x")
    cases = [
        (["evidence", "submit", *d, "--as", "lead-bank", "--loan", "7", "--kind", "bribe", str(f)],
         "unknown evidence kind 'bribe'"),
        (["evidence", "submit", *d, "--as", "lead-bank", "--loan", "7", "--kind", "other", str(tmp_path / "no")],
         "is not a file"),
        (["evidence", "submit", *d, "--as", "partner-a", "--loan", "7", "--kind", "other", str(f)],
         "EvidenceUnauthorized"),
        (["evidence", "open-case", *d, "--as", "lead-bank", "--loan", "7", "--arbitrator", "nobody"],
         "no member or key named 'nobody' (arbitrators: 'Arbitration Commission', 'Second Commission')"),
        (["evidence", "open", "0x" + "zz" * 32, *d, "--as", "lead-bank", "--out", str(tmp_path / "o")],
         "invalid evidence id"),
        (["evidence", "award", *d, "--as", "arbitrator", "--case", "999", "--award-file", str(f)],
         "case 999 does not exist"),
        (["evidence", "submit", "--data-dir", str(tmp_path / "none"), "--as", "lead-bank", "--loan", "7",
          "--kind", "other", str(f)], "no deployment record"),
        (["evidence", "verify", str(tmp_path / "missing.json")], "is not a file"),
        (["evidence", "verify", str(f)], "want a .json bundle or a case bundle .zip"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, ""), argv
        assert err.startswith("coledger: error: ") and err.count("\n") == 1 and message in err, (argv, err)


def test_verify_exits_1_naming_the_item_and_the_check(
    env: EvidenceEnv, chain: Any, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(data_dir)]
    loan_id = 9_001
    for i in range(2):
        src = tmp_path / f"e{i}.txt"
        src.write_text(f"evidence {i}")
        ok(capsys, "evidence", "submit", *d, "--as", "lead-bank", "--loan", str(loan_id), "--kind", "other", str(src))
    vault = EvidenceVault(data_dir / "evidence")
    bundle = loan_bundle(env, vault, loan_id)
    doc = json.loads(dump_bundle(bundle))
    second = doc["items"][1]["evidence_id"]

    broken = json.loads(json.dumps(doc))
    broken["items"][1]["prev"] = "0x" + "11" * 32
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    code, out, err = run(capsys, "evidence", "verify", str(path))
    assert (code, out) == (1, "") and err.startswith("VERIFICATION FAILED: item ") and second in err
    assert "inclusion_proof" in err  # the changed record no longer hashes to its anchored leaf

    broken = json.loads(json.dumps(doc))
    broken["batches"][0]["anchor"]["timestamp"] += 10**6
    path.write_text(json.dumps(broken))
    code, _, err = run(capsys, "evidence", "verify", str(path))
    assert code == 1 and ": anchor: " in err

    path.write_text(json.dumps({**doc, "extra": 1}))
    code, _, err = run(capsys, "evidence", "verify", str(path))
    assert code == 1 and "$.extra: unknown field" in err


    good = tmp_path / "good.json"
    good.write_bytes(dump_bundle(bundle))
    assert ok(capsys, "evidence", "verify", str(good), "--rpc", chain.url).endswith(
        "anchors: 2 batch anchor(s) found on the chain at " + chain.url + " as the bundle says\n")
    broken = json.loads(json.dumps(doc))
    broken["batches"][0]["anchor"]["tx_hash"] = "0x" + "22" * 32
    path.write_text(json.dumps(broken))
    assert run(capsys, "evidence", "verify", str(path))[0] == 0  # offline it cannot tell
    code, _, err = run(capsys, "evidence", "verify", str(path), "--rpc", chain.url)
    assert code == 1 and f"batch {doc['batches'][0]['root']}: tx_hash: the chain has no transaction" in err


def test_api_start_refuses_missing_settings_in_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLEDGER_API_TOKEN_SECRET", raising=False)
    code, out, err = run(capsys, "api", "start", "--data-dir", str(data_dir), "--port", "0")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "token_secret" in err
