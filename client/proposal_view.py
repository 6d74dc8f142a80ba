"""A governance proposal decoded for people: what it does, to whom, from what to what, who
approved it, and where it stands.

Why: the Consortium stores a proposal as a kind and `abi.encode`d arguments; a parameter name is
a keccak hash, a member an id, a deadline epoch seconds, a governed call raw calldata. Governors
vote on what they read, so `coledger consortium proposal N` must show the action as it will be
performed: parameter names, old -> new values in units, member names beside addresses, ISO dates
beside epoch seconds. Decoding (`decode_action`) is pure over a `Context` snapshot of the chain,
so every kind is testable without a chain; `describe_proposal` builds that snapshot.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address
from web3.logs import DISCARD

from client._abi import canonical_type
from client.artifacts import available_artifacts, load_artifact
from client.consortium import ActionKind, ConsortiumClient, MemberInfo, Role, roles_from_mask
from client.flow_rules import Action
from client.parameters import by_key
from client.readable import bp, duration, fen, iso, parameter_value

__all__ = ["Context", "ProposalView", "decode_action", "describe_proposal"]


@dataclass
class Context:
    """What decoding needs to know about the chain, as plain data. `executed_events` are the
    Consortium events of the proposal's execution transaction (name -> list of args), from
    which old values are taken once a proposal has executed; before that, the current state."""

    members: dict[int, MemberInfo] = field(default_factory=dict)
    parameters: dict[bytes, int] = field(default_factory=dict)
    threshold: int = 0
    contracts: dict[str, str] = field(default_factory=dict)  # lower-case address -> name
    validators: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # key -> (member, power)
    executed_events: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    executed: bool = False

    def member(self, member_id: int) -> str:
        m = self.members.get(member_id)
        return f"#{member_id} {m.name}" if m else f"#{member_id} (no such member)"

    def address(self, address: str) -> str:
        address = to_checksum_address(address)
        for m in self.members.values():
            if m.key == address:
                return f"{address} ({m.name})"
        name = self.contracts.get(address.lower())
        return f"{address} ({name})" if name else address

    def event(self, name: str) -> Mapping[str, Any] | None:
        found = self.executed_events.get(name)
        return found[0] if found else None


@dataclass(frozen=True)
class ProposalView:
    """A decoded proposal. `action` is JSON-ready; `lines()` is the human text."""

    proposal_id: int
    kind: ActionKind
    summary: str
    action: dict[str, Any]
    status: str
    proposer: tuple[int, str]
    approvals: int
    threshold: int
    approved_by: list[tuple[int, str]]
    deadline: int
    executed: bool = False
    executed_tx: str | None = None
    executed_block: int | None = None
    executed_time: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.proposal_id, "kind": self.kind.name.lower(), "summary": self.summary,
            "status": self.status, "proposer": {"id": self.proposer[0], "name": self.proposer[1]},
            "approvals": self.approvals, "threshold": self.threshold,
            "approved_by": [{"id": i, "name": n} for i, n in self.approved_by],
            "deadline": self.deadline, "deadline_iso": iso(self.deadline),
            "executed": self.executed, "executed_tx": self.executed_tx,
            "executed_block": self.executed_block,
            "executed_time": self.executed_time,
            "executed_time_iso": None if self.executed_time is None else iso(self.executed_time),
            "action": {k: v for k, v in self.action.items() if k != "details"},
        }

    def lines(self) -> list[str]:
        out = [f"proposal {self.proposal_id}: {self.kind.name.lower().replace('_', '-')} — {self.summary}",
               f"  status:      {self.status}",
               f"  proposed by: #{self.proposer[0]} {self.proposer[1]}",
               f"  approvals:   {self.approvals} of {self.threshold}: "
               f"{', '.join(f'#{i} {n}' for i, n in self.approved_by) or 'none'}",
               f"  deadline:    {iso(self.deadline)} ({self.deadline})"]
        if self.executed_tx is not None:
            when = "" if self.executed_time is None else f" at {iso(self.executed_time)} ({self.executed_time})"
            out.append(f"  executed:    block {self.executed_block}{when}, tx {self.executed_tx}")
        for key, text in self.action.get("details", []):
            out.append(f"  {key + ':':<12} {text}")
        return out


# -------------------------------------------------------------------------------- decoding

_TYPES: dict[ActionKind, list[str]] = {
    ActionKind.ADD_MEMBER: ["string", "address", "uint256"],
    ActionKind.REMOVE_MEMBER: ["uint256"],
    ActionKind.GRANT_ROLE: ["uint256", "uint8"],
    ActionKind.REVOKE_ROLE: ["uint256", "uint8"],
    ActionKind.ROTATE_KEY: ["uint256", "address"],
    ActionKind.SET_THRESHOLD: ["uint256"],
    ActionKind.SET_PARAMETER: ["bytes32", "uint256"],
    ActionKind.CALL: ["address", "bytes"],
    ActionKind.ADD_VALIDATOR: ["uint256", "bytes32", "uint64", "bytes20", "bytes"],
    ActionKind.REMOVE_VALIDATOR: ["bytes32"],
    ActionKind.SET_VALIDATOR_POWER: ["bytes32", "uint64"],
}


_ROLE_VALUES = frozenset(int(r) for r in Role)
_ACTION_VALUES = frozenset(int(a) for a in Action)
Decoder = Callable[[tuple[Any, ...], Context], tuple[str, dict[str, Any]]]


def _role(value: int) -> str:
    return Role(value).name.lower().replace("_", "-") if value in _ROLE_VALUES else f"role {value} (unknown)"


def _roles(mask: int) -> list[str]:
    return sorted(_role(int(r)) for r in roles_from_mask(mask))


def _vkey(key: bytes) -> str:
    return f"{base64.b64encode(key).decode()} (0x{key.hex()})"


def decode_action(kind: ActionKind, args: bytes, ctx: Context) -> tuple[str, dict[str, Any]]:
    """(one-line summary, JSON-ready action with a `details` list of (label, text) pairs)."""
    try:
        values = decode(_TYPES[kind], args)
    except (DecodingError, OverflowError, ValueError) as exc:
        return "arguments do not decode", {"raw": "0x" + args.hex(), "error": str(exc),
                                           "details": [("arguments", "0x" + args.hex())]}
    decoder = _DECODERS[kind]
    return decoder(values, ctx)


def _add_member(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    name, key, mask = v
    roles = _roles(mask)
    return (f"add member {name!r} with {', '.join(roles) or 'no roles'}",
            {"name": name, "key": to_checksum_address(key), "roles": roles, "roles_mask": mask,
             "details": [("member", name), ("key", ctx.address(key)), ("roles", ", ".join(roles) or "none")]})


def _remove_member(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    (member_id,) = v
    m = ctx.members.get(member_id)
    return (f"remove member {ctx.member(member_id)}",
            {"member_id": member_id, "member": m.name if m else None, "key": m.key if m else None,
             "details": [("member", ctx.member(member_id)), ("key", m.key if m else "?")]})


def _role_change(grant: bool) -> Decoder:
    def decode_role(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
        member_id, role = v
        verb = "grant" if grant else "revoke"
        return (f"{verb} {_role(role)} {'to' if grant else 'from'} {ctx.member(member_id)}",
                {"member_id": member_id, "member": ctx.members[member_id].name if member_id in ctx.members else None,
                 "role": _role(role), "details": [("member", ctx.member(member_id)), ("role", _role(role))]})
    return decode_role


def _rotate_key(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    member_id, new_key = v
    done = ctx.event("KeyRotated")
    old = done["oldKey"] if done else (ctx.members[member_id].key if member_id in ctx.members else None)
    new_key = to_checksum_address(new_key)
    return (f"rotate the key of {ctx.member(member_id)}",
            {"member_id": member_id, "old_key": old, "new_key": new_key,
             "details": [("member", ctx.member(member_id)), ("key", f"{old or '?'} -> {new_key}")]})


def _set_threshold(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    (new,) = v
    done = ctx.event("ThresholdChanged")
    old = int(done["oldThreshold"]) if done else ctx.threshold
    governors = sum(1 for m in ctx.members.values() if m.active and Role.GOVERNOR in m.roles)
    return (f"set the approval threshold {old} -> {new}",
            {"old": old, "new": new,
             "details": [("threshold", f"{old} -> {new} of {governors} governors")]})


def _set_parameter(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    key, new = bytes(v[0]), int(v[1])
    done = ctx.event("ParameterSet")
    old = int(done["oldValue"]) if done else ctx.parameters.get(key, 0)
    p = by_key(key)
    if p is None:
        return (f"set an unknown parameter (key 0x{key.hex()}) to {new:,}",
                {"parameter": None, "key": "0x" + key.hex(), "old": old, "new": new,
                 "details": [("parameter", f"0x{key.hex()} — read by no coledger contract"),
                             ("value", f"{old:,} -> {new:,}")]})
    old_text, new_text = parameter_value(p, old), parameter_value(p, new)
    if old == 0:
        old_text = f"0 (not set: {p.when_zero})"
    if new == 0:
        new_text = f"0 (unset: {p.when_zero})"
    return (f"set {p.name} {old_text} -> {new_text}",
            {"parameter": p.name, "key": "0x" + key.hex(), "unit": p.unit.value, "old": old, "new": new,
             "old_text": old_text, "new_text": new_text, "read_by": p.read_by,
             "details": [("parameter", f"{p.name} (read by {p.read_by}: {p.meaning})"),
                         ("value", f"{old_text} -> {new_text}")]})


def _add_validator(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    member_id, key, power, node_id, proof = int(v[0]), bytes(v[1]), int(v[2]), bytes(v[3]), bytes(v[4])
    return (f"add a validator of {ctx.member(member_id)} with power {power}",
            {"member_id": member_id, "consensus_key": base64.b64encode(key).decode(),
             "consensus_key_hex": "0x" + key.hex(), "power": power, "node_id": node_id.hex(),
             "proof_bytes": len(proof),
             "details": [("member", ctx.member(member_id)), ("key", _vkey(key)), ("power", str(power)),
                         ("node id", node_id.hex()),
                         ("proof", f"{len(proof)}-byte ed25519 proof of possession")]})


def _remove_validator(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    key = bytes(v[0])
    member_id, power = ctx.validators.get(key, (None, None))
    done = ctx.event("ValidatorRemoved")
    if done is not None:
        member_id = int(done["memberId"])
    who = ctx.member(member_id) if member_id else "not in the current set"
    return (f"remove validator {base64.b64encode(key).decode()} ({who})",
            {"consensus_key": base64.b64encode(key).decode(), "consensus_key_hex": "0x" + key.hex(),
             "member_id": member_id, "power": power,
             "details": [("key", _vkey(key)), ("member", who)]})


def _set_power(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    key, power = bytes(v[0]), int(v[1])
    member_id, current = ctx.validators.get(key, (None, None))
    if ctx.executed:  # the event carries only the new power: the old one is gone
        current = None
    who = ctx.member(member_id) if member_id else "not in the current set"
    change = f"{current} -> {power}" if current is not None else str(power)
    return (f"set the power of validator {base64.b64encode(key).decode()} ({who}) to {power}",
            {"consensus_key": base64.b64encode(key).decode(), "consensus_key_hex": "0x" + key.hex(),
             "member_id": member_id, "old": current, "new": power,
             "details": [("key", _vkey(key)), ("member", who), ("power", change)]})


def _call(v: tuple[Any, ...], ctx: Context) -> tuple[str, dict[str, Any]]:
    target, data = to_checksum_address(v[0]), bytes(v[1])
    contract = ctx.contracts.get(target.lower())
    found = _function_of(data, contract, ctx)
    if found is None:
        return (f"call {ctx.address(target)} with undecoded data",
                {"target": target, "contract": contract, "function": None, "data": "0x" + data.hex(),
                 "details": [("target", ctx.address(target)), ("data", "0x" + data.hex())]})
    owner, fn, rows = found
    shown = contract or owner
    details = [("target", ctx.address(target)), ("calls", f"{shown}.{fn}")]
    details += [(f"  {r['name']}", r["text"]) for r in rows]
    return (f"call {shown}.{fn}",
            {"target": target, "contract": shown, "function": fn, "args": rows, "details": details})


_DECODERS: dict[ActionKind, Decoder] = {
    ActionKind.ADD_MEMBER: _add_member,
    ActionKind.REMOVE_MEMBER: _remove_member,
    ActionKind.GRANT_ROLE: _role_change(True),
    ActionKind.REVOKE_ROLE: _role_change(False),
    ActionKind.ROTATE_KEY: _rotate_key,
    ActionKind.SET_THRESHOLD: _set_threshold,
    ActionKind.SET_PARAMETER: _set_parameter,
    ActionKind.CALL: _call,
    ActionKind.ADD_VALIDATOR: _add_validator,
    ActionKind.REMOVE_VALIDATOR: _remove_validator,
    ActionKind.SET_VALIDATOR_POWER: _set_power,
}


# -------------------------------------------------------------------------------- governed calls

_FEN_FIELDS = {"singledrawcap", "ceilingmin", "ceilingmax", "p2psinglemax", "cashsinglemax", "amount", "limit"}


def _function_of(data: bytes, contract: str | None, ctx: Context) -> tuple[str, str, list[dict[str, Any]]] | None:
    """(contract, function, readable argument rows) of calldata, by the target's ABI (or any)."""
    selector, body = data[:4], data[4:]
    names = [contract] if contract else []
    names += [n for n in available_artifacts() if n != contract]
    for name in names:
        for entry in load_artifact(name).abi:
            if entry.get("type") != "function":
                continue
            types = [canonical_type(p) for p in entry["inputs"]]
            if keccak(text=f"{entry['name']}({','.join(types)})")[:4] != selector:
                continue
            try:
                values = decode(types, body)
            except (DecodingError, OverflowError, ValueError):
                return None
            rows: list[dict[str, Any]] = []
            for param, value in zip(entry["inputs"], values, strict=True):
                _rows(param, value, param["name"], rows, ctx)
            return name, entry["name"], rows
    return None


def _rows(param: Mapping[str, Any], value: Any, label: str, out: list[dict[str, Any]], ctx: Context) -> None:
    if param["type"] == "tuple":
        for comp, v in zip(param["components"], value, strict=True):
            _rows(comp, v, f"{label}.{comp['name']}", out, ctx)
        return
    out.append({"name": label, "type": canonical_type(dict(param)), "value": _json(value),
                "text": _text(param, value, ctx)})


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def _text(param: Mapping[str, Any], value: Any, ctx: Context) -> str:
    name = str(param["name"]).lower()
    internal = str(param.get("internalType", ""))
    if internal.startswith("enum") and internal.endswith(".Action") and isinstance(value, int):
        return Action(value).name if value in _ACTION_VALUES else str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str):
        return ctx.address(value) if param["type"] == "address" else repr(value)
    if isinstance(value, list | tuple):
        item = {**param, "type": param["type"].rstrip("[]"), "name": name.removesuffix("s")}
        return ", ".join(_text(item, v, ctx) for v in value) or "none"
    if name == "installmentcountsmask":
        return ", ".join(str(n) for n in range(value.bit_length()) if value >> n & 1) + " installments"
    if name == "productid":
        return f"product {value}"
    if name.endswith("memberid") or name == "partnerid":
        return ctx.member(value)
    if name in _FEN_FIELDS:
        return f"{value:,} fen ({fen(value)})"
    if name.endswith("bp"):
        return f"{value:,} bp ({bp(value)})"
    if name.endswith("window"):
        return f"{value:,} s ({duration(value)})"
    if name.endswith("days"):
        return f"{value:,} days"
    return f"{value}"


# -------------------------------------------------------------------------------- from the chain

def describe_proposal(c: ConsortiumClient, proposal_id: int,
                      contracts: Mapping[str, str] | None = None) -> ProposalView:
    """Proposal `proposal_id` decoded against the chain's current state (and, once executed,
    the events of its execution). `contracts`: name -> address of the deployment, to name a
    governed call's target."""
    info = c.proposal(proposal_id)
    members = {m.member_id: m for m in c.members(include_removed=True)}
    ctx = Context(members=members, threshold=c.threshold(), executed=info.executed,
                  contracts={a.lower(): n for n, a in (contracts or {}).items()})
    executed_tx = executed_block = executed_time = None
    if info.executed:
        receipt = _execution_receipt(c, proposal_id)
        if receipt is not None:
            executed_tx = "0x" + bytes(receipt["transactionHash"]).hex()
            executed_block = int(receipt["blockNumber"])
            executed_time = int(c.w3.eth.get_block(executed_block)["timestamp"])
            ctx.executed_events = _events(c, receipt)
    if info.kind is ActionKind.SET_PARAMETER and len(info.args) >= 32:
        key = info.args[:32]
        ctx.parameters[key] = int(c.contract.functions.parameter(key).call())
    if info.kind in (ActionKind.REMOVE_VALIDATOR, ActionKind.SET_VALIDATOR_POWER):
        for key, member_id, power, _node, _since in c.contract.functions.validators().call():
            ctx.validators[bytes(key)] = (int(member_id), int(power))
    summary, action = decode_action(info.kind, info.args, ctx)
    approved_by = [(m, members[m].name) for m in members
                   if c.contract.functions.hasApproved(proposal_id, m).call()]
    head_time = int(c.w3.eth.get_block("latest")["timestamp"])
    if info.executed:
        status = "executed"
    elif head_time > info.deadline:
        status = f"expired at {iso(info.deadline)} without enough approvals"
    elif info.approvals >= ctx.threshold:
        status = "approved: anyone governing may `consortium execute` it"
    else:
        need = ctx.threshold - info.approvals
        status = f"open: needs {need} more approval{'s' if need != 1 else ''} by {iso(info.deadline)}"
    return ProposalView(
        proposal_id=proposal_id, kind=info.kind, summary=summary, action=action, status=status,
        proposer=(info.proposer_id, members[info.proposer_id].name if info.proposer_id in members else "?"),
        approvals=info.approvals, threshold=ctx.threshold,
        approved_by=approved_by, deadline=info.deadline, executed=info.executed, executed_tx=executed_tx,
        executed_block=executed_block, executed_time=executed_time,
    )


def _execution_receipt(c: ConsortiumClient, proposal_id: int) -> Any:
    topic = "0x" + keccak(text="ProposalExecuted(uint256)").hex()
    logs = c.w3.eth.get_logs({"address": c.address, "fromBlock": 0, "toBlock": "latest",
                              "topics": [topic, "0x" + proposal_id.to_bytes(32, "big").hex()]})
    return c.w3.eth.get_transaction_receipt(logs[0]["transactionHash"]) if logs else None


def _events(c: ConsortiumClient, receipt: Any) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = {}
    for name in ("ParameterSet", "ThresholdChanged", "KeyRotated", "ValidatorRemoved"):
        events = getattr(c.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        if events:
            found[name] = [dict(e["args"]) for e in events]
    return found
