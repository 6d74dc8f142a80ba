"""Regenerate tests/evidence/vectors/ (language-neutral JSON test vectors) and golden/.

    python -m tests.evidence.make_vectors

Expectations are stated here by hand (what must fail and why), never obtained by running the
verifier, so the vectors test the verifier rather than describe it. ``test_vectors.py`` checks
that the committed files equal what this script writes: a change to a format is deliberate.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from arbitration.bundle import dump_bundle
from arbitration.merkle import MerkleTree, hash_leaf
from tests.evidence._fixtures import FIXTURE_RNG_LABEL, LOAN_3, DeterministicRng, build_fixture

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors"
GOLDEN = HERE / "golden"

RFC6962_LEAVES = [
    *("", "00", "10", "2021", "3031", "40414243"),
    *("5051525354555657", "606162636465666768696a6b6c6d6e6f"),
]


def _flip(hex_str: str, bit: int = 0) -> str:
    """Flip one bit of a hex string (with or without 0x), keeping the spelling canonical."""
    prefix = "0x" if hex_str.startswith("0x") else ""
    b = bytearray.fromhex(hex_str[len(prefix) :])
    b[bit // 8] ^= 0x80 >> (bit % 8)
    return prefix + b.hex()


def _dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def merkle_inclusion() -> dict[str, Any]:
    data = [bytes.fromhex(x) for x in RFC6962_LEAVES]
    cases: list[dict[str, Any]] = []
    for n in range(1, 9):
        t = MerkleTree.from_data(data[:n])
        for i in range(n):
            cases.append(
                {
                    "name": f"ok size {n} index {i}",
                    "leaf_hash": t.leaf_hash(i).hex(),
                    "index": i,
                    "tree_size": n,
                    "proof": [p.hex() for p in t.inclusion_proof(i)],
                    "root": t.root.hex(),
                    "expect": {"ok": True},
                }
            )
    t = MerkleTree.from_data(data)
    base: dict[str, Any] = {
        "leaf_hash": t.leaf_hash(5).hex(),
        "index": 5,
        "tree_size": 8,
        "proof": [p.hex() for p in t.inclusion_proof(5)],
        "root": t.root.hex(),
    }

    def broken(name: str, expect: dict[str, Any], **change: Any) -> None:
        c = copy.deepcopy(base) | change
        cases.append({"name": name, **c, "expect": expect})

    mismatch = {"error": "root_mismatch"}
    for k in range(3):
        for bit in (0, 255):
            proof = list(base["proof"])
            proof[k] = _flip(proof[k], bit)
            broken(f"bit {bit} flipped in proof element {k}", mismatch, proof=proof)
    broken("bit flipped in leaf hash", mismatch, leaf_hash=_flip(base["leaf_hash"], 7))
    broken("bit flipped in root", mismatch, root=_flip(base["root"], 100))
    broken("wrong index, same proof size", mismatch, index=4)
    broken(
        "index out of range", {"error": "proof", "message": "index 9 out of range for tree size 8"}, index=9
    )
    broken(
        "index equal to tree size",
        {"error": "proof", "message": "index 8 out of range for tree size 8"},
        index=8,
    )
    # RFC 9162 proofs do not bind the tree size: index 5's proof has the same shape for sizes 7
    # and 8 and leads to the same root. Whoever anchors a root must commit to its size too.
    broken("tree size not bound by a same-shape proof", {"ok": True}, tree_size=7)
    broken(
        "wrong tree size, other proof size",
        {"error": "proof", "message": "wrong proof size 3, want 2"},
        tree_size=6,
    )
    broken(
        "last proof step removed",
        {"error": "proof", "message": "wrong proof size 2, want 3"},
        proof=base["proof"][:2],
    )
    broken(
        "middle proof step removed",
        {"error": "proof", "message": "wrong proof size 2, want 3"},
        proof=[base["proof"][0], base["proof"][2]],
    )
    broken(
        "proof step inserted",
        {"error": "proof", "message": "wrong proof size 4, want 3"},
        proof=[base["proof"][0], base["proof"][0], *base["proof"][1:]],
    )
    broken("proof elements swapped", mismatch, proof=[base["proof"][1], base["proof"][0], base["proof"][2]])
    broken(
        "oversized proof",
        {"error": "proof", "message": "proof size 65 exceeds the maximum 64"},
        proof=[base["proof"][0]] * 65,
    )
    broken(
        "short proof element",
        {"error": "proof", "message": "proof element 1 has size 31, want 32"},
        proof=[base["proof"][0], base["proof"][1][:62], base["proof"][2]],
    )
    broken(
        "tree size zero", {"error": "proof", "message": "index 5 out of range for tree size 0"}, tree_size=0
    )
    return {
        "description": "RFC 6962/9162 inclusion proofs, SHA-256; leaf = H(0x00||d), node = H(0x01||l||r). "
        "Hashes are lowercase hex. Leaves are the RFC 6962 reference data; expect.ok or expect.error in "
        "{proof (precondition, exact message), root_mismatch}.",
        "leaves": RFC6962_LEAVES,
        "cases": cases,
    }


def merkle_consistency() -> dict[str, Any]:
    data = [bytes.fromhex(x) for x in RFC6962_LEAVES]
    roots = {n: MerkleTree.from_data(data[:n]).root.hex() for n in range(0, 9)}
    cases: list[dict[str, Any]] = []
    for n in range(1, 9):
        t = MerkleTree.from_data(data[:n])
        for m in range(0, n + 1):
            cases.append(
                {
                    "name": f"ok {m} -> {n}",
                    "size1": m,
                    "size2": n,
                    "proof": [p.hex() for p in t.consistency_proof(m)],
                    "root1": roots[m],
                    "root2": roots[n],
                    "expect": {"ok": True},
                }
            )
    proof = [p.hex() for p in MerkleTree.from_data(data[:7]).consistency_proof(3)]
    base = {"size1": 3, "size2": 7, "proof": proof, "root1": roots[3], "root2": roots[7]}
    for k in range(len(proof)):
        p = list(proof)
        p[k] = _flip(p[k], 3)
        cases.append(
            {
                "name": f"bit flipped in proof element {k}",
                **base,
                "proof": p,
                "expect": {"error": "root_mismatch"},
            }
        )
    cases.append(
        {
            "name": "step removed",
            **base,
            "proof": proof[:-1],
            "expect": {"error": "proof", "message": f"wrong proof size {len(proof) - 1}, want {len(proof)}"},
        }
    )
    cases.append({"name": "wrong old root", **base, "root1": roots[4], "expect": {"error": "root_mismatch"}})
    cases.append(
        {
            "name": "sizes reversed",
            **base,
            "size1": 7,
            "size2": 3,
            "expect": {"error": "proof", "message": "size2 (3) < size1 (7)"},
        }
    )
    return {
        "description": "RFC 6962/9162 consistency proofs over the RFC 6962 reference leaves.",
        "cases": cases,
    }


def bundles() -> tuple[dict[str, str], list[dict[str, Any]], dict[str, str]]:
    """Files (name -> text), cases, and contents (evidence id -> plaintext hex)."""
    fx = build_fixture()
    good_text = dump_bundle(fx.bundle).decode()
    good = json.loads(good_text)
    items = good["items"]
    ids = [it["evidence_id"] for it in items]  # L1#0, L2#0, L1#1, L2#1, L1#2, L1#3, L2#2, L1#4
    files: dict[str, str] = {
        "good.json": good_text,
        "good_unanchored.json": dump_bundle(fx.unanchored).decode(),
    }
    cases: list[dict[str, Any]] = [
        {
            "name": "good case bundle, contents checked",
            "file": "good.json",
            "contents": True,
            "expect": {"ok": True},
        },
        {"name": "good unanchored bundle", "file": "good_unanchored.json", "expect": {"ok": True}},
    ]

    def add(name: str, doc: Any, expect: dict[str, Any], **extra: Any) -> None:
        fname = name.replace(" ", "_").replace(",", "").replace("/", "_") + ".json"
        files[fname] = doc if isinstance(doc, str) else _dumps(doc)
        cases.append({"name": name, "file": fname, **extra, "expect": expect})

    def fail(check: str, item: int | None, message: str) -> dict[str, Any]:
        return {
            "error": "verification",
            "check": check,
            "item": None if item is None else ids[item],
            "message": message,
        }

    def edit(fn: Any) -> Any:
        d = copy.deepcopy(good)
        fn(d)
        return d

    # A flipped bit in every proof element of every item.
    for i, it in enumerate(items):
        for k in range(len(it["proof"])):

            def flip(d: Any, i: int = i, k: int = k) -> None:
                d["items"][i]["proof"][k] = _flip(d["items"][i]["proof"][k], 17)

            add(
                f"item {i} proof element {k} bit flipped",
                edit(flip),
                fail("inclusion_proof", i, "path leads to root"),
            )

    def set_item(i: int, key: str, value: Any) -> Any:
        return edit(lambda d: d["items"][i].__setitem__(key, value))

    add("wrong leaf index", set_item(2, "leaf_index", 3), fail("inclusion_proof", 2, "path leads to root"))
    add(
        "leaf index out of range",
        set_item(2, "leaf_index", 5),
        fail("inclusion_proof", 2, "index 5 out of range for tree size 5"),
    )
    add(
        "item tree size differs from batch",
        set_item(5, "tree_size", 8),
        fail("batch", 5, "tree size 8 but batch"),
    )

    def wrong_size(d: Any) -> None:
        # Batch of 7 claimed as 6. Index 1's proof has the same shape in both sizes and still
        # verifies (RFC 9162 proofs do not bind the size: the anchor must commit to root AND size);
        # index 6 is caught.
        d["batches"][2]["tree_size"] = 6
        for it in d["items"]:
            if it["batch_root"] == d["batches"][2]["root"]:
                it["tree_size"] = 6

    add(
        "wrong batch tree size",
        edit(wrong_size),
        fail("inclusion_proof", 7, "index 6 out of range for tree size 6"),
    )

    def wrong_size_2(d: Any) -> None:
        d["batches"][0]["tree_size"] = 4
        for it in d["items"]:
            if it["batch_root"] == d["batches"][0]["root"]:
                it["tree_size"] = 4

    add(
        "wrong batch tree size, proof size differs",
        edit(wrong_size_2),
        fail("inclusion_proof", 0, "wrong proof size 3, want 2"),
    )
    add(
        "last proof step removed",
        set_item(5, "proof", items[5]["proof"][:-1]),
        fail("inclusion_proof", 5, "wrong proof size 2, want 3"),
    )
    add(
        "proof step inserted",
        set_item(5, "proof", [items[5]["proof"][0], *items[5]["proof"]]),
        fail("inclusion_proof", 5, "wrong proof size 4, want 3"),
    )

    def swap_order(d: Any) -> None:  # L1#1 and L1#2 change places: the chain no longer links
        d["items"][2], d["items"][4] = d["items"][4], d["items"][2]

    add("items swapped", edit(swap_order), fail("hash_chain", 4, "is not the hash of the previous item"))

    def swap_hashes(d: Any) -> None:
        a, b = d["items"][0], d["items"][1]
        a["sha256"], b["sha256"] = b["sha256"], a["sha256"]

    add(
        "content hashes swapped between items",
        edit(swap_hashes),
        fail("inclusion_proof", 0, "path leads to root"),
    )

    def drop_item(d: Any) -> None:  # L1#1 removed: L1#2's prev points at a missing item
        del d["items"][2]

    add("item removed", edit(drop_item), fail("hash_chain", 4, "is not the hash of the previous item"))
    add(
        "content hash altered",
        set_item(3, "sha256", _flip(items[3]["sha256"], 1)),
        fail("inclusion_proof", 3, "path leads to root"),
    )
    add(
        "sm3 altered",
        set_item(3, "sm3", _flip(items[3]["sm3"], 1)),
        fail("inclusion_proof", 3, "path leads to root"),
    )
    add(
        "prev altered",
        set_item(6, "prev", _flip(items[6]["prev"], 1)),
        fail("inclusion_proof", 6, "path leads to root"),
    )
    add("kind altered", set_item(7, "kind", "other"), fail("inclusion_proof", 7, "path leads to root"))

    def anchor(b: int, key: str, value: Any) -> Any:
        return edit(lambda d: d["batches"][b]["anchor"].__setitem__(key, value))

    add(
        "timestamp altered within a block",
        anchor(1, "timestamp", good["batches"][1]["anchor"]["timestamp"] + 1),
        fail("anchor", 4, "has a different hash or timestamp"),
    )
    add(
        "timestamp altered before an earlier block",
        anchor(2, "timestamp", good["batches"][0]["anchor"]["timestamp"] - 1),
        fail("anchor", 5, "precedes block 100 timestamp"),
    )
    add(
        "block hash altered",
        anchor(1, "block_hash", _flip(good["batches"][1]["anchor"]["block_hash"], 9)),
        fail("anchor", 4, "has a different hash or timestamp"),
    )
    add(
        "tx hash reused",
        anchor(1, "tx_hash", good["batches"][0]["anchor"]["tx_hash"]),
        fail("anchor", 4, "shares tx"),
    )
    add(
        "block number moved before predecessor",
        anchor(2, "block_number", 99),
        fail("anchor", 5, "anchored before the previous item"),
    )
    add("chain id altered", anchor(2, "chain_id", 1), fail("anchor", 5, "another chain or contract"))

    def batch_root(d: Any) -> None:
        old = d["batches"][2]["root"]
        d["batches"][2]["root"] = new = _flip(old, 0)
        for it in d["items"]:
            if it["batch_root"] == old:
                it["batch_root"] = new

    add("batch root altered", edit(batch_root), fail("inclusion_proof", 5, "path leads to root"))
    add(
        "unknown batch root",
        set_item(0, "batch_root", _flip(items[0]["batch_root"], 0)),
        fail("batch", 0, "is not among the bundle's batches"),
    )

    def dup(d: Any) -> None:
        d["items"].append(copy.deepcopy(d["items"][0]))

    add("item duplicated", edit(dup), fail("duplicate_item", 0, "appears twice"))

    # Content checks: the plaintexts of contents.json, with one altered.
    contents = {fx_id: fx.plaintexts[bytes.fromhex(fx_id[2:])].hex() for fx_id in ids}
    altered = dict(contents)
    altered[ids[3]] = (bytes.fromhex(contents[ids[3]]) + b" (edited)").hex()
    cases.append(
        {
            "name": "content altered",
            "file": "good.json",
            "contents": altered,
            "expect": fail("content_sha256", 3, "content hashes to"),
        }
    )
    l3 = next(r for r in fx.records if r.loan_id == LOAN_3)
    cases.append(
        {
            "name": "content for an item not in the bundle",
            "file": "good.json",
            "contents": {"0x" + l3.evidence_id.hex(): fx.plaintexts[l3.evidence_id].hex()},
            "expect": {
                "error": "verification",
                "check": "content_unknown",
                "item": "0x" + l3.evidence_id.hex(),
                "message": "not in the bundle",
            },
        }
    )

    # A single-item proof bundle: fine as a partial chain, rejected when a complete chain is required.
    single = edit(
        lambda d: (d.__setitem__("items", [d["items"][6]]), d.__setitem__("batches", [d["batches"][2]]))
    )
    add("single item partial chain", single, {"ok": True}, require_complete_chains=False)
    cases.append(
        {
            "name": "single item when complete chain required",
            "file": "single_item_partial_chain.json",
            "expect": fail("hash_chain", 6, "evidence is missing"),
        }
    )

    # Schema: each rejection names the field.
    def fmt(field: str, message: str) -> dict[str, Any]:
        return {"error": "format", "field": field, "message": message}

    add("unknown top-level field", edit(lambda d: d.__setitem__("note", "x")), fmt("$.note", "unknown field"))
    add("unknown item field", set_item(1, "comment", "x"), fmt("$.items[1].comment", "unknown field"))
    add(
        "missing item field",
        edit(lambda d: d["items"][2].pop("prev")),
        fmt("$.items[2].prev", "missing field"),
    )
    add(
        "missing anchor field",
        edit(lambda d: d["batches"][0]["anchor"].pop("timestamp")),
        fmt("$.batches[0].anchor.timestamp", "missing field"),
    )
    add(
        "wrong type leaf index",
        set_item(0, "leaf_index", "0"),
        fmt("$.items[0].leaf_index", "expected integer, got string"),
    )
    add(
        "float tree size",
        set_item(0, "tree_size", 5.0),
        fmt("$.items[0].tree_size", "expected integer, got number"),
    )
    add(
        "boolean leaf index",
        set_item(0, "leaf_index", False),
        fmt("$.items[0].leaf_index", "expected integer, got boolean"),
    )
    add(
        "uppercase hex",
        set_item(0, "sha256", items[0]["sha256"].upper().replace("0X", "0x")),
        fmt("$.items[0].sha256", "lowercase hex"),
    )
    add(
        "short hash",
        set_item(0, "sm3", items[0]["sm3"][:-2]),
        fmt("$.items[0].sm3", "64 lowercase hex digits"),
    )
    add("unknown kind", set_item(0, "kind", "rumour"), fmt("$.items[0].kind", "unknown kind 'rumour'"))
    add(
        "oversized proof",
        set_item(5, "proof", [items[5]["proof"][0]] * 65),
        fmt("$.items[5].proof", "65 elements exceed the limit of 64"),
    )
    add(
        "unsupported version",
        edit(lambda d: d.__setitem__("version", 3)),
        fmt("$.version", "unsupported version 3"),
    )
    add(
        "version 2 without consensus proofs",
        edit(lambda d: d.__setitem__("version", 2)),
        fmt("$.consensus", "missing field"),
    )
    add(
        "partial anchor",
        anchor(0, "block_hash", None),
        fmt("$.batches[0].anchor.block_hash", "all set or all null"),
    )
    add(
        "negative timestamp", anchor(0, "timestamp", -1), fmt("$.batches[0].anchor.timestamp", "out of range")
    )
    add("trailing bytes", good_text + "{}", fmt("$", "trailing data"))
    add("trailing garbage", good_text + "x", fmt("$", "trailing data"))
    add(
        "duplicate key",
        good_text.replace('"version": 1,', '"version": 1,\n  "version": 1,', 1),
        fmt("version", "duplicate field"),
    )
    add("NaN", good_text.replace('"tree_size": 5', '"tree_size": NaN', 1), fmt("$", "NaN is not valid JSON"))
    add("not an object", "[]\n", fmt("$", "expected object, got array"))
    add(
        "no items",
        edit(lambda d: (d.__setitem__("items", []), d.__setitem__("batches", []))),
        fmt("$.items", "at least one item"),
    )
    return files, cases, contents


def write_all(root: Path = HERE) -> dict[Path, bytes]:
    """Everything this script writes, as path -> bytes (the test compares without writing)."""
    fx = build_fixture()
    out: dict[Path, bytes] = {}
    out[root / "vectors" / "merkle_inclusion.json"] = _dumps(merkle_inclusion()).encode()
    out[root / "vectors" / "merkle_consistency.json"] = _dumps(merkle_consistency()).encode()
    files, cases, contents = bundles()
    for name, text in files.items():
        out[root / "vectors" / "bundles" / name] = text.encode()
    out[root / "vectors" / "bundle_cases.json"] = _dumps(
        {
            "description": "Bundle verification vectors. 'contents': true uses contents.json; an object "
            "gives evidence id -> plaintext hex. expect.error is format (field = JSON path), or verification "
            "(check code, item = evidence id or null). 'message' is a substring of the error message.",
            "cases": cases,
        }
    ).encode()
    out[root / "vectors" / "contents.json"] = _dumps(contents).encode()
    out[root / "golden" / "bundle_v1.json"] = dump_bundle(fx.bundle)
    first = fx.records[0].evidence_id
    rng = DeterministicRng(FIXTURE_RNG_LABEL)  # replay the first seal's draws: id, data key, nonce
    assert rng(32) == first
    data_key, nonce = rng(32), rng(12)
    out[root / "golden" / "blob_v1.json"] = _dumps(
        {
            "description": "On-disk blob format v1 = 0x01 || nonce (12) || AES-256-GCM(ciphertext || tag), "
            "associated data = evidence id; data key and nonce from the test RNG.",
            "evidence_id": first.hex(),
            "data_key": data_key.hex(),
            "nonce": nonce.hex(),
            "plaintext": fx.plaintexts[first].hex(),
            "blob": fx.blobs[first].hex(),
            "record": fx.records[0].encode().hex(),
            "item_hash": hash_leaf(fx.records[0].encode()).hex(),
        }
    ).encode()
    return out


def main() -> None:
    for path, data in write_all().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(path.relative_to(HERE))


if __name__ == "__main__":
    main()
