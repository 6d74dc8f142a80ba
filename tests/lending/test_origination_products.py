"""ProductCatalog: products defined by governance (any terms within the hard bounds) or by their
lead bank alone (within the governance limits), the hard bounds themselves, and activation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from tests.lending._origination_helpers import (
    P_MAX_CAP,
    P_MAX_CEILING,
    P_MAX_RATE,
    WELOAN_CAP,
    WELOAN_CEILING,
    Origination,
    counts_mask,
    deploy_origination,
    events,
    parameter_key,
    terms,
)

SME_CEILING = (5_000_000, 500_000_000)  # 50,000 .. 5,000,000 RMB


@pytest.fixture(scope="module")
def o(chain: Any, make_account: Callable[..., LocalAccount]) -> Origination:
    return deploy_origination(chain, make_account, "products")


@pytest.fixture
def lead_limits(o: Origination) -> Iterator[None]:
    """Governance lets lead banks define WeLoan-sized products alone; unset afterwards."""
    o.set_parameter(P_MAX_RATE, 2_400)
    o.set_parameter(P_MAX_CAP, WELOAN_CAP)
    o.set_parameter(P_MAX_CEILING, WELOAN_CEILING[1])
    yield
    for name in (P_MAX_RATE, P_MAX_CAP, P_MAX_CEILING):
        o.set_parameter(name, 0)


def as_tuple(raw: Any) -> tuple[Any, ...]:
    """A decoded ProductTerms (tuple, or the dict web3 decodes event structs into) as a tuple."""
    values = raw.values() if hasattr(raw, "values") else raw
    return tuple(list(v) if isinstance(v, (list, tuple)) else v for v in values)


# ------------------------------------------------------------------------------ governance


def test_governance_defines_product_via_propose_call_and_event_rebuilds_it(o: Origination) -> None:
    t = terms(o.ids["lead2"], [o.ids["p3"], o.ids["p1"]], [5_000, 3_000], name="SME working capital",
              rate=1_200, cap=50_000_000, ceiling=SME_CEILING, mask=counts_mask([12, 24, 36, 60]))
    before = o.catalog.functions.productCount().call()
    receipt = o.govern(o.catalog, "defineProduct", t)
    (defined,) = [a for n, a in events(o.catalog, receipt) if n == "ProductDefined"]
    assert defined["productId"] == before + 1
    assert defined["leadMemberId"] == o.ids["lead2"]
    assert defined["definedBy"] == o.consortium.address
    assert as_tuple(defined["terms"]) == t
    stored, active = o.catalog.functions.product(before + 1).call()
    assert as_tuple(stored) == t and active is True
    assert o.catalog.functions.productCount().call() == before + 1


def test_governance_may_exceed_lead_limits(o: Origination) -> None:
    t = terms(o.ids["lead"], [o.ids["p1"]], [8_000], rate=30_000, cap=60_000_000, ceiling=SME_CEILING)
    o.govern(o.catalog, "defineProduct", t)  # no lead-bank limit applies to governance


# ------------------------------------------------------------------------------ lead banks


def test_lead_defines_product_within_limits(o: Origination, lead_limits: None) -> None:
    t = terms(o.ids["lead"], [o.ids["p1"], o.ids["p2"]], [4_000, 4_000], rate=2_400)
    receipt = o.send("lead", o.catalog, "defineProduct", t)
    (defined,) = [a for n, a in events(o.catalog, receipt) if n == "ProductDefined"]
    assert defined["definedBy"] == o.accounts["lead"].address
    assert as_tuple(o.catalog.functions.product(defined["productId"]).call()[0]) == t


@pytest.mark.parametrize(
    ("change", "parameter", "value", "limit"),
    [
        ({"rate": 2_401}, P_MAX_RATE, 2_401, 2_400),
        ({"cap": WELOAN_CAP + 1}, P_MAX_CAP, WELOAN_CAP + 1, WELOAN_CAP),
        ({"ceiling": (500_000, WELOAN_CEILING[1] + 1)}, P_MAX_CEILING, WELOAN_CEILING[1] + 1,
         WELOAN_CEILING[1]),
    ],
)
def test_lead_product_beyond_limits_reverts_with_ProductCatalogLimitExceeded(
    o: Origination, lead_limits: None, change: dict[str, Any], parameter: str, value: int, limit: int
) -> None:
    t = terms(o.ids["lead"], [o.ids["p1"], o.ids["p2"]], [4_000, 4_000], **change)
    before = o.catalog.functions.productCount().call()
    o.rejects("lead", o.catalog, "defineProduct", [t], "ProductCatalogLimitExceeded",
              parameter=parameter_key(parameter), value=value, limit=limit)
    assert o.catalog.functions.productCount().call() == before


def test_lead_product_without_limits_reverts_with_ProductCatalogLeadDefinitionDisabled(
    o: Origination,
) -> None:
    t = terms(o.ids["lead"], [o.ids["p1"], o.ids["p2"]], [4_000, 4_000])
    o.rejects("lead", o.catalog, "defineProduct", [t], "ProductCatalogLeadDefinitionDisabled",
              parameter=parameter_key(P_MAX_RATE))


@pytest.mark.parametrize("who", ["lead2", "p1", "outsider", "governor"])
def test_defining_for_another_lead_reverts_with_ProductCatalogUnauthorized(
    o: Origination, lead_limits: None, who: str
) -> None:
    t = terms(o.ids["lead"], [o.ids["p1"], o.ids["p2"]], [4_000, 4_000])
    o.rejects(who, o.catalog, "defineProduct", [t], "ProductCatalogUnauthorized",
              caller=o.accounts[who].address, leadMemberId=o.ids["lead"])


# ------------------------------------------------------------------------------ hard bounds


def bad_terms(o: Origination) -> list[tuple[str, tuple[Any, ...], str, dict[str, Any]]]:
    lead, p1, p2, p3 = (o.ids[k] for k in ("lead", "p1", "p2", "p3"))
    ok = {"lead": lead, "partners": [p1, p2], "shares": [4_000, 4_000]}

    def t(**kw: Any) -> tuple[Any, ...]:
        base = {**ok, **kw}
        return terms(base.pop("lead"), base.pop("partners"), base.pop("shares"), **base)

    return [
        ("empty name", t(name=""), "ProductCatalogEmptyName", {}),
        ("ceiling min > max", t(ceiling=(2_000_000, 1_000_000), cap=1_000_000),
         "ProductCatalogInvalidCeiling", {"ceilingMin": 2_000_000, "ceilingMax": 1_000_000}),
        ("cap above ceiling", t(cap=30_000_001), "ProductCatalogInvalidDrawCap",
         {"singleDrawCap": 30_000_001, "ceilingMax": 30_000_000}),
        ("zero cap", t(cap=0), "ProductCatalogInvalidDrawCap", {"singleDrawCap": 0, "ceilingMax": 30_000_000}),
        ("empty mask", t(mask=0), "ProductCatalogInvalidInstallments", {"mask": 0}),
        ("zero installments", t(mask=1 | 1 << 5), "ProductCatalogInvalidInstallments", {"mask": 1 | 1 << 5}),
        ("61 installments", t(mask=1 << 61), "ProductCatalogInvalidInstallments", {"mask": 1 << 61}),
        ("lead not a lead bank", t(lead=p3), "ProductCatalogNotLeadBank", {"memberId": p3}),
        ("unknown lead", t(lead=999), "ProductCatalogNotLeadBank", {"memberId": 999}),
        ("zero lead share", t(lead_share=0, shares=[5_000, 5_000]), "ProductCatalogZeroShare",
         {"memberId": lead}),
        ("no partners", t(partners=[], shares=[], lead_share=10_000), "ProductCatalogPartnerCount",
         {"count": 0, "max": 8}),
        ("nine partners", t(partners=list(range(10, 19)), shares=[800] * 9), "ProductCatalogPartnerCount",
         {"count": 9, "max": 8}),
        ("shares length", t(shares=[8_000]), "ProductCatalogSharesLength", {"partners": 2, "shares": 1}),
        ("partner is lead", t(partners=[p1, lead]), "ProductCatalogPartnerIsLead", {"memberId": lead}),
        ("duplicate partner", t(partners=[p1, p1]), "ProductCatalogDuplicatePartner", {"memberId": p1}),
        ("partner not Partner", t(partners=[p1, o.ids["lead2"]]), "ProductCatalogNotPartner",
         {"memberId": o.ids["lead2"]}),
        ("unknown partner", t(partners=[p1, 999]), "ProductCatalogNotPartner", {"memberId": 999}),
        ("zero partner share", t(shares=[8_000, 0]), "ProductCatalogZeroShare", {"memberId": p2}),
        ("shares below whole", t(shares=[4_000, 3_999]), "ProductCatalogSharesNotWhole", {"totalBp": 9_999}),
        ("shares above whole", t(shares=[4_000, 4_001]), "ProductCatalogSharesNotWhole", {"totalBp": 10_001}),
    ]


def test_terms_outside_hard_bounds_are_refused_even_to_governance(o: Origination) -> None:
    before = o.catalog.functions.productCount().call()
    for label, t, error, args in bad_terms(o):
        inner = o.governed_error(o.catalog, "defineProduct", t)
        assert (inner.name, inner.args_by_name) == (error, args), label
    assert o.catalog.functions.productCount().call() == before


def test_terms_outside_hard_bounds_revert_for_a_lead_bank_too(o: Origination, lead_limits: None) -> None:
    for _label, t, error, args in bad_terms(o)[:4]:
        o.rejects("lead", o.catalog, "defineProduct", [t], error, **args)


def test_removed_partner_cannot_join_a_product(
    chain: Any, make_account: Callable[..., LocalAccount]
) -> None:
    fresh = deploy_origination(chain, make_account, "products-removed")
    fresh.consortium.propose_remove_member(fresh.ids["p3"])
    inner = fresh.governed_error(fresh.catalog, "defineProduct",
                                 terms(fresh.ids["lead"], [fresh.ids["p3"]], [8_000]))
    assert (inner.name, inner.args_by_name) == ("ProductCatalogNotPartner", {"memberId": fresh.ids["p3"]})


# ------------------------------------------------------------------------------ activation


def test_product_activation_by_lead_and_governance(o: Origination) -> None:
    pid = o.product
    receipt = o.send("lead", o.catalog, "setProductActive", pid, False)
    assert events(o.catalog, receipt) == [
        ("ProductActiveSet", {"productId": pid, "active": False, "by": o.accounts["lead"].address})
    ]
    assert o.catalog.functions.product(pid).call()[1] is False
    receipt = o.govern(o.catalog, "setProductActive", pid, True)
    assert ("ProductActiveSet", {"productId": pid, "active": True, "by": o.consortium.address}) in events(
        o.catalog, receipt)
    assert o.catalog.functions.product(pid).call()[1] is True


@pytest.mark.parametrize("who", ["lead2", "p1", "outsider"])
def test_product_activation_by_others_reverts_with_ProductCatalogUnauthorized(o: Origination, who: str) -> None:
    o.rejects(who, o.catalog, "setProductActive", [o.product, False], "ProductCatalogUnauthorized",
              caller=o.accounts[who].address, leadMemberId=o.ids["lead"])


def test_unknown_product_reverts_with_ProductCatalogUnknownProduct(o: Origination) -> None:
    unknown = o.catalog.functions.productCount().call() + 1
    o.rejects("lead", o.catalog, "setProductActive", [unknown, False], "ProductCatalogUnknownProduct",
              productId=unknown)
    o.rejects("lead", o.catalog, "setProductActive", [0, False], "ProductCatalogUnknownProduct", productId=0)
