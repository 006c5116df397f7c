"""Normalising identity claims and how much each kind is trusted (no database needed)."""

from __future__ import annotations

import pytest

from customers.identity import (
    MAX_IDENTITIES_PER_CLAIM,
    IdentityClaim,
    InvalidIdentity,
    is_strong,
    normalize_value,
    parse_claims,
)
from customers.models import IdentityKind


def refusal_code(kind: str, raw: object) -> str:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_value(kind, raw)
    return caught.value.code


# --- phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "  13812345678\n",
        "+86 138 1234 5678",
        "+8613812345678",
        "008613812345678",
    ],
)
def test_chinese_mobile_in_national_or_international_format_becomes_e164(raw):
    assert normalize_value(IdentityKind.PHONE, raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["021 6123 4567", "(021) 6123-4567", "+86 21 6123 4567"])
def test_landline_with_trunk_prefix_is_read_in_the_default_region_cn(raw):
    assert normalize_value(IdentityKind.PHONE, raw) == "+862161234567"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 650 253 0000", "+16502530000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+852 2123 4567", "+85221234567"),
        ("00852 2123 4567", "+85221234567"),
    ],
)
def test_international_number_keeps_its_own_country(raw, expected):
    assert normalize_value(IdentityKind.PHONE, raw) == expected


def test_national_number_is_read_in_the_configured_default_region(settings):
    settings.DEFAULT_PHONE_REGION = "US"

    assert normalize_value(IdentityKind.PHONE, "(650) 253-0000") == "+16502530000"


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "not a phone",
        "1381234567",  # one digit short
        "138123456789012",  # too long
        "+86 100 0000 0000",  # no such Chinese range
        "+999 1234567",  # no such country code
        "+86 138\x001234 5678",
    ],
)
def test_invalid_phone_is_refused_with_code_invalid_phone(raw):
    assert refusal_code(IdentityKind.PHONE, raw) == "invalid_phone"


# --- emails -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Foo.Bar@Example.COM \t", "foo.bar@example.com"),
        ("li.lei+shop@qq.com", "li.lei+shop@qq.com"),
        ("Groß@Example.de", "gross@example.de"),  # case-folded, not just lower-cased
    ],
)
def test_email_is_case_folded_and_stripped(raw, expected):
    assert normalize_value(IdentityKind.EMAIL, raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "no-at-sign",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a@example.",
        "a@exa mple.com",
        "a\x00b@example.com",
        "a\x1bb@example.com",
        "a@example.com\x7f",
        "x" * 250 + "@example.com",
    ],
)
def test_invalid_email_is_refused_with_code_invalid_email(raw):
    assert refusal_code(IdentityKind.EMAIL, raw) == "invalid_email"


# --- other kinds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["8613812345678", "+8613812345678", "+86 138 1234 5678", " 8613812345678 "]
)
def test_whatsapp_id_becomes_the_phone_number_in_digits(raw):
    assert normalize_value(IdentityKind.WHATSAPP_ID, raw) == "8613812345678"


@pytest.mark.parametrize("raw", ["0613812345678", "12345", "+86-138-1234-5678", "wa_user", "+"])
def test_malformed_whatsapp_id_is_refused(raw):
    assert refusal_code(IdentityKind.WHATSAPP_ID, raw) == "invalid_identity"


def test_member_number_is_upper_cased_and_stripped():
    assert normalize_value(IdentityKind.MEMBER_NO, " vip-00123a ") == "VIP-00123A"


def test_other_identifiers_keep_their_case():
    assert normalize_value(IdentityKind.WECHAT_OPENID, " oAbC-123_x ") == "oAbC-123_x"


@pytest.mark.parametrize("kind", ["passport", "", "PHONE", "Phone", "wechat"])
def test_unknown_identity_kind_is_refused(kind):
    assert refusal_code(kind, "value") == "unknown_identity_kind"


@pytest.mark.parametrize("raw", [None, "", "   ", 13812345678, ["x"], {"value": "x"}])
@pytest.mark.parametrize("kind", [IdentityKind.PHONE, IdentityKind.MEMBER_NO])
def test_missing_or_non_text_value_is_refused(kind, raw):
    assert refusal_code(kind, raw) == "invalid_identity"


@pytest.mark.parametrize(
    "raw",
    [
        "open id",
        "open\tid",
        "open\nid",
        "open\rid",
        "open\x00id",
        "open\x1bid",
        "open\x7fid",
        "open\x85id",
        "open\x9bid",  # C1 control
        "open\u3000id",  # ideographic space
        "open\u00a0id",  # no-break space
    ],
)
@pytest.mark.parametrize(
    "kind",
    [
        IdentityKind.WECHAT_OPENID,
        IdentityKind.MEMBER_NO,
        IdentityKind.APP_USER_ID,
        IdentityKind.WEB_VISITOR_ID,
    ],
)
def test_whitespace_or_control_characters_inside_a_value_are_refused(kind, raw):
    assert refusal_code(kind, raw) == "invalid_identity"


def test_value_longer_than_255_characters_is_refused():
    assert normalize_value(IdentityKind.APP_USER_ID, "u" * 255) == "u" * 255
    assert refusal_code(IdentityKind.APP_USER_ID, "u" * 256) == "invalid_identity"


# --- parse_claims -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], {}, "phone", {"kind": "phone", "value": "138"}])
def test_parse_claims_needs_a_non_empty_list(raw):
    with pytest.raises(InvalidIdentity) as caught:
        parse_claims(raw)
    assert caught.value.code == "missing_identities"


def test_parse_claims_normalises_each_identity_in_order():
    claims = parse_claims(
        [
            {"kind": "phone", "value": "138 1234 5678", "verified": True},
            {"kind": "email", "value": "Li.Lei@Example.com"},
            {"kind": "member_no", "value": "m001"},
        ]
    )

    assert claims == [
        IdentityClaim("phone", "+8613812345678", True),
        IdentityClaim("email", "li.lei@example.com", False),
        IdentityClaim("member_no", "M001", False),
    ]
    assert claims[0].key == ("phone", "+8613812345678")


@pytest.mark.parametrize("verified_first", [True, False])
def test_parse_claims_merges_duplicates_keeping_verified(verified_first):
    unverified = {"kind": "phone", "value": "+86 138 1234 5678"}
    verified = {"kind": "phone", "value": "13812345678", "verified": True}
    raw = [verified, unverified] if verified_first else [unverified, verified]

    assert parse_claims(raw) == [IdentityClaim("phone", "+8613812345678", True)]


def test_parse_claims_keeps_same_value_of_different_kinds_apart():
    claims = parse_claims(
        [
            {"kind": "wechat_openid", "value": "abc"},
            {"kind": "web_visitor_id", "value": "abc"},
        ]
    )

    assert [claim.key for claim in claims] == [("wechat_openid", "abc"), ("web_visitor_id", "abc")]


def test_parse_claims_accepts_up_to_the_maximum_number_of_identities():
    raw = [{"kind": "app_user_id", "value": f"u{n}"} for n in range(MAX_IDENTITIES_PER_CLAIM)]

    assert len(parse_claims(raw)) == MAX_IDENTITIES_PER_CLAIM


def test_parse_claims_refuses_too_many_identities():
    raw = [{"kind": "app_user_id", "value": f"u{n}"} for n in range(MAX_IDENTITIES_PER_CLAIM + 1)]

    with pytest.raises(InvalidIdentity) as caught:
        parse_claims(raw)
    assert caught.value.code == "too_many_identities"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (["phone"], "invalid_identity"),
        ([{"kind": "phone", "value": "138 1234 5678"}, None], "invalid_identity"),
        ([{"kind": "phone", "value": "12345"}], "invalid_phone"),
        ([{"kind": "email", "value": "nobody"}], "invalid_email"),
        ([{"kind": "passport", "value": "E123"}], "unknown_identity_kind"),
        ([{"kind": 7, "value": "E123"}], "unknown_identity_kind"),
        ([{"value": "E123"}], "unknown_identity_kind"),
        ([{"kind": "member_no"}], "invalid_identity"),
        ([{"kind": "member_no", "value": "M1", "verified": "yes"}], "invalid_identity"),
        ([{"kind": "member_no", "value": "M1", "verified": 1}], "invalid_identity"),
    ],
)
def test_parse_claims_refuses_a_malformed_identity(raw, code):
    with pytest.raises(InvalidIdentity) as caught:
        parse_claims(raw)
    assert caught.value.code == code


# --- trust --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "verified", "strong"),
    [
        (IdentityKind.MEMBER_NO, False, True),
        (IdentityKind.MEMBER_NO, True, True),
        (IdentityKind.PHONE, True, True),
        (IdentityKind.PHONE, False, False),
        (IdentityKind.EMAIL, True, True),
        (IdentityKind.EMAIL, False, False),
        (IdentityKind.WECHAT_UNIONID, True, False),
        (IdentityKind.WECHAT_OPENID, True, False),
        (IdentityKind.APP_USER_ID, True, False),
        (IdentityKind.WHATSAPP_ID, True, False),
        (IdentityKind.WEB_VISITOR_ID, True, False),
        ("member_no", False, True),  # plain strings, as parse_claims returns them
        ("phone", True, True),
    ],
)
def test_is_strong_trusts_member_numbers_and_verified_phones_and_emails_only(
    kind, verified, strong
):
    assert is_strong(kind, verified) is strong
