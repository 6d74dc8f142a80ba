"""Evidence time signed by the consortium: a proof bundle from the network, verified offline.

The bundle (v2) carries, for each anchoring block, the Ethereum header, the validators' commits on
it and on the next height, and trie proofs of the anchoring transaction and receipt;
``coledger evidence verify BUNDLE --validators genesis.json`` checks them with nothing but the
network's genesis. The broken corpus covers what a lying institution could hand over: a forged
signature, a signer outside the set, signatures below 2/3, a header whose app hash is not the
block's roots (re-signed with the validators' own keys, so only the app-hash check can catch it),
a header of another block, and a validator set the verifier does not hold.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from web3 import Web3

from arbitration.bundle import dump_bundle, parse_bundle, verify_bundle
from arbitration.consensus import verify_anchor_consensus
from arbitration.index import EvidenceIndex
from arbitration.merkle import MerkleTree
from arbitration.proofs import evidence_proof
from arbitration.vault import EvidenceVault
from client.bft import SignedHeader, load_validator_set
from client.bft.encoding import parse_time, vote_sign_bytes
from client.evidence_chain import EvidenceRegistryClient, deploy_evidence_registry
from client.tx import TransactionPipeline
from tests.evidence_index._helpers import vault_records
from tests.network.conftest import Net
from tests.network.load import wait_height

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def proofs(net: Net, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One single-item anchor and one batch of two, indexed from validator 2; their bundles."""
    w3 = Web3(Web3.HTTPProvider(net.urls[2], request_kwargs={"timeout": 60}))
    registry = deploy_evidence_registry(TransactionPipeline(w3, net.bootstrap), net.consortium)
    lead = net.members[0]
    client = EvidenceRegistryClient(w3, registry, TransactionPipeline(w3, lead))
    vault = EvidenceVault(tmp_path_factory.mktemp("vault"))
    recs = vault_records(vault, 7, 3, lead.address)
    r0 = recs[0]
    single = client.anchor_item(r0.evidence_id, r0.loan_id, int(r0.kind), r0.sha256, r0.sm3,
                                r0.ciphertext_sha256, r0.prev)
    root = MerkleTree([r.item_hash() for r in recs[1:]]).root
    vault.put_batch(root, 2, [r.evidence_id for r in recs[1:]])
    batch = client.anchor_batch(root, 2)
    for url in net.urls:  # the block after each anchor signs its roots; it follows at once
        wait_height(url, batch["blockNumber"] + 1)
    index = EvidenceIndex(str(tmp_path_factory.mktemp("index") / "i.sqlite"), w3,
                          {"EvidenceRegistry": registry}, vault)
    assert index.sync() >= 3
    out = tmp_path_factory.mktemp("bundles")
    files = {}
    for name, rec in (("single", r0), ("batched", recs[2])):
        path = out / f"{name}.json"
        path.write_bytes(dump_bundle(evidence_proof(index, rec.evidence_id)))
        files[name] = path
    genesis = net.root / "validator-3" / "cometbft" / "config" / "genesis.json"
    return {"files": files, "genesis": genesis, "receipts": (single, batch), "w3": w3}


def _verify(path: Path, genesis: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "client.cli", "evidence", "verify", str(path),
                           "--validators", str(genesis)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_network_proof_bundle_verifies_offline_with_the_bft_time(proofs: dict[str, Any]) -> None:
    for name, receipt in zip(("single", "batched"), proofs["receipts"], strict=True):
        raw = proofs["files"][name].read_bytes()
        bundle = parse_bundle(raw)
        assert json.loads(raw)["version"] == 2 and len(bundle.consensus) == 1
        verify_bundle(bundle, require_complete_chains=False)
        done = _verify(proofs["files"][name], proofs["genesis"])
        assert done.returncode == 0, done.stdout + done.stderr
        proof = bundle.consensus[0]
        assert proof is not None and proof.block_number == receipt["blockNumber"]
        bft = parse_time(proof.signed_header["header"]["time"])
        block = proofs["w3"].eth.get_block(receipt["blockNumber"])
        assert block["timestamp"] >= bft.seconds
        stamp = proof.signed_header["header"]["time"][:19]
        assert f"anchored in block {receipt['blockNumber']} at BFT time {stamp}" in done.stdout
        assert "of 40 voting power" in done.stdout and "(BFT time signed by the consortium)" in done.stdout


def _tampered(proofs: dict[str, Any], tmp_path: Path, change) -> Path:
    doc = json.loads(proofs["files"]["batched"].read_bytes())
    change(doc["consensus"][0])
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    return path


def _signed_sigs(proof: dict[str, Any], which: str = "signed_header") -> list[dict[str, Any]]:
    return [s for s in proof[which]["commit"]["signatures"] if s["block_id_flag"] == 2]


def _forge(proof: dict[str, Any]) -> None:
    sig = _signed_sigs(proof)[0]
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[5] ^= 0x10
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def _outsider(proof: dict[str, Any]) -> None:
    _signed_sigs(proof)[0]["validator_address"] = "AB" * 20


def _below_two_thirds(proof: dict[str, Any]) -> None:
    for sig in _signed_sigs(proof, "next_signed_header")[:2]:
        sig.update(block_id_flag=1, validator_address="", signature=None,
                   timestamp="0001-01-01T00:00:00Z")


def _other_block(proof: dict[str, Any]) -> None:
    proof["header_rlp"] = proof["header_rlp"][:-2] + ("00" if proof["header_rlp"][-2:] != "00" else "01")


@pytest.mark.parametrize("change, words", [
    (_forge, "does not verify"),
    (_outsider, "outside the validator set"),
    (_below_two_thirds, "more than two thirds"),
    (_other_block, "header: the Ethereum header does not hash to the anchor's block hash"),
], ids=["forged-signature", "signer-outside-the-set", "below-two-thirds", "another-header"])
def test_a_broken_network_bundle_is_refused_naming_the_check(proofs: dict[str, Any], tmp_path: Path,
                                                             change, words: str) -> None:
    done = _verify(_tampered(proofs, tmp_path, change), proofs["genesis"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert "VERIFICATION FAILED" in done.stderr and words in done.stderr


def test_an_app_hash_the_validators_signed_but_the_roots_do_not_give_is_refused(
        net: Net, proofs: dict[str, Any]) -> None:
    """Even a commit with every validator's valid signature is refused when the app hash it signs
    is not SHA-256 over the anchoring block's roots (the validators' own keys re-sign it here)."""
    bundle = parse_bundle(proofs["files"]["batched"].read_bytes())
    proof = bundle.consensus[0]
    assert proof is not None
    after = copy.deepcopy(proof.next_signed_header)
    after["header"]["app_hash"] = "11" * 32
    sh = SignedHeader.from_json(after)  # recomputes the header hash over the changed app hash
    keys = _validator_keys(net.root)
    vset = load_validator_set(proofs["genesis"])
    after["commit"]["block_id"]["hash"] = sh.computed_hash.hex().upper()
    for sig, validator in zip(after["commit"]["signatures"], vset.validators, strict=True):
        if sig["block_id_flag"] != 2:
            continue
        message = vote_sign_bytes(chain_id=vset.chain_id, height=sh.height, round_=sh.commit_round,
                                  block_hash=sh.computed_hash, parts_total=sh.parts_total,
                                  parts_hash=sh.parts_hash, time=parse_time(sig["timestamp"]))
        sig["signature"] = base64.b64encode(keys[validator.address_hex].sign(message)).decode()
    lying = copy.deepcopy(json.loads(proofs["files"]["batched"].read_bytes()))
    lying["consensus"][0]["next_signed_header"] = after
    from arbitration.errors import ConsensusProofError

    tampered = parse_bundle(json.dumps(lying).encode())
    with pytest.raises(ConsensusProofError) as caught:
        verify_anchor_consensus(tampered.consensus[0], tampered.batches[0], vset)  # type: ignore[arg-type]
    assert caught.value.check == "app_hash"


def test_a_validator_set_the_verifier_does_not_hold_is_refused(proofs: dict[str, Any],
                                                                tmp_path: Path) -> None:
    genesis = json.loads(proofs["genesis"].read_text())
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    genesis["validators"][0]["pub_key"]["value"] = base64.b64encode(stranger).decode()
    genesis["validators"][0]["address"] = ""
    other = tmp_path / "other-genesis.json"
    other.write_text(json.dumps(genesis))
    done = _verify(proofs["files"]["single"], other)
    assert done.returncode == 1 and "validators_hash" in done.stderr


def test_without_a_consensus_proof_the_validators_check_says_what_is_missing(
        proofs: dict[str, Any], tmp_path: Path) -> None:
    doc = json.loads(proofs["files"]["single"].read_bytes())
    doc["version"] = 1
    del doc["consensus"]
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps(doc))
    done = _verify(v1, proofs["genesis"])
    assert done.returncode == 1 and "missing" in done.stderr


def _validator_keys(root: Path) -> dict[str, Ed25519PrivateKey]:
    keys = {}
    for home in sorted(root.glob("validator-*")):
        doc = json.loads((home / "cometbft" / "config" / "priv_validator_key.json").read_text())
        seed = base64.b64decode(doc["priv_key"]["value"])[:32]
        keys[doc["address"].upper()] = Ed25519PrivateKey.from_private_bytes(seed)
    return keys
