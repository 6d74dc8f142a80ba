"""The governed parameters: the one table of names the contracts read from the Consortium.

Why a table in the SDK and not on chain: the Consortium stores any `bytes32` key, and the
contracts that read parameters (CreditLines, ProductCatalog, LoanLedger) each hold the keccak of
their names as constants. A name outside this table is read by nothing, so setting it would
change nothing — the mistake `exposure.cap.fen` made in the README. The Consortium is the
generic, non-upgradable governance layer under every other contract; compiling lending's names
into it would invert that dependency and freeze the name space for the chain's life, so the
SDK refuses unknown names before anything is signed (`ConsortiumClient.propose_set_parameter`,
`coledger consortium propose set-parameter`), and `tests/client/test_parameters.py` proves this
table equals the set of names the contract sources read and that each contract named here
really embeds the key. A deliberate raw `propose(ActionKind.SET_PARAMETER, ...)` is still possible.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import Enum

from eth_utils import keccak

from client.errors import CoLedgerValueError

__all__ = [
    "PARAMETERS",
    "Parameter",
    "Unit",
    "UnknownParameterError",
    "ParameterValueError",
    "by_key",
    "check_value",
    "lookup",
    "suggestions",
]


class Unit(Enum):
    """How a parameter's integer is read."""

    FEN = "fen"  # money, minor units (1 RMB = 100 fen)
    SECONDS = "seconds"
    DAYS = "days"
    BP = "bp"  # basis points: 10,000 bp = 100%


@dataclass(frozen=True)
class Parameter:
    """One governed parameter. `default` is what the reading contract uses while the parameter
    is 0 (None: 0 has a meaning of its own, given in `when_zero`); values above `maximum` are
    clamped by the contract, so the SDK refuses them rather than let them look honoured."""

    name: str
    unit: Unit
    meaning: str
    read_by: str
    default: int | None
    when_zero: str
    maximum: int = 2**256 - 1

    @property
    def key(self) -> bytes:
        """The Consortium's storage key: keccak256 of the name."""
        return bytes(keccak(text=self.name))


_U32 = 2**32 - 1
_U64 = 2**64 - 1
_PRODUCT_OFF = "lead banks may not define products alone (only governance may)"


def _days(name: str, meaning: str, default: int) -> Parameter:
    return Parameter(name, Unit.DAYS, meaning, "LoanLedger", default, f"the default, {default} days")


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("lending.borrowerExposureCap", Unit.FEN,
              "consortium-wide cap on one borrower's outstanding principal, across every line "
              "of every lead bank", "CreditLines", None,
              "CreditLines' constructor default, 300,000.00 RMB as coledger deploys it", _U64),
    Parameter("lending.drawdownLifetime", Unit.SECONDS,
              "how long a proposed drawdown may wait for partner commitments and disbursement",
              "CreditLines", 86_400, "the default, 1 day", _U32),
    Parameter("lending.product.maxRateBp", Unit.BP,
              "highest annual rate a lead bank may give a product it defines alone",
              "ProductCatalog", None, _PRODUCT_OFF),
    Parameter("lending.product.maxSingleDrawCap", Unit.FEN,
              "highest single-draw cap a lead bank may give a product it defines alone",
              "ProductCatalog", None, _PRODUCT_OFF),
    Parameter("lending.product.maxCeiling", Unit.FEN,
              "highest credit ceiling a lead bank may give a product it defines alone",
              "ProductCatalog", None, _PRODUCT_OFF),
    _days("lending.class.specialMentionDays", "days past due from which a loan is 'special mention'", 1),
    _days("lending.class.substandardDays", "days past due from which a loan is 'substandard'", 60),
    _days("lending.class.doubtfulDays", "days past due from which a loan is 'doubtful'", 90),
    _days("lending.class.lossDays", "days past due from which a loan is 'loss'", 180),
    _days("lending.collection.reminderDays", "days past due before the collection reminder step", 1),
    _days("lending.collection.automatedDays", "days past due before automated collection", 15),
    _days("lending.collection.outsourcedDays", "days past due before outsourced recovery", 60),
    _days("lending.collection.arbitrationDays",
          "days past due before arbitration (the step that defaults the loan)", 90),
)

_BY_NAME = {p.name: p for p in PARAMETERS}
_BY_KEY = {p.key: p for p in PARAMETERS}


class UnknownParameterError(CoLedgerValueError):
    """A parameter name no coledger contract reads; nothing was sent."""

    def __init__(self, name: str) -> None:
        close = suggestions(name)
        hint = f"did you mean {', '.join(close)}?" if close else "no close match"
        super().__init__(
            f"unknown parameter {name!r}: no coledger contract reads it ({hint}; "
            f"`coledger consortium parameters` lists all {len(PARAMETERS)})"
        )
        self.name = name
        self.suggestions = close


class ParameterValueError(CoLedgerValueError):
    """A value outside what the reading contract honours; nothing was sent."""


def _words(name: str) -> set[str]:
    """The lower-case words of a name: dots, dashes, underscores and camelCase split."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w} - _NOISE


_NOISE = {"lending", "fen", "days", "bp"}


def suggestions(name: str) -> list[str]:
    """Up to three table names close to `name`: a spelling slip (difflib), else shared words
    (``exposure.cap.fen`` -> ``lending.borrowerExposureCap``)."""
    names = list(_BY_NAME)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.8)
    if close:
        return close
    lowered = {n.lower(): n for n in names}
    close = [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.8)]
    if close:
        return close
    wanted = _words(name)
    scored = sorted(((len(wanted & _words(n)), n) for n in names), key=lambda t: -t[0])
    best = scored[0][0] if scored else 0
    return [n for score, n in scored if score == best][:3] if best else []


def lookup(name: str) -> Parameter:
    """The parameter called `name`; raises `UnknownParameterError` with close matches."""
    found = _BY_NAME.get(name)
    if found is None:
        raise UnknownParameterError(name)
    return found


def check_value(parameter: Parameter, value: int) -> int:
    """`value` if the contract honours it as given, else `ParameterValueError`."""
    if isinstance(value, bool) or not 0 <= value <= parameter.maximum:
        raise ParameterValueError(
            f"{parameter.name}: value {value} is outside 0..{parameter.maximum:,} "
            f"({parameter.read_by} would not honour it as given)"
        )
    return value


def by_key(key: bytes) -> Parameter | None:
    """The parameter whose keccak key is `key`, if it is one of the table's."""
    return _BY_KEY.get(bytes(key))
