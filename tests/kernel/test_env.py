import pytest
from django.core.exceptions import ImproperlyConfigured

from omniservice.env import env_bool, env_choice, env_int, env_list, env_str


def test_env_str_reads_the_variable_or_the_default(monkeypatch):
    monkeypatch.setenv("OMNI_TEST_VALUE", "hello")
    assert env_str("OMNI_TEST_VALUE", "x") == "hello"
    assert env_str("OMNI_TEST_MISSING", "fallback") == "fallback"


def test_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("OMNI_TEST_SECRET_FILE", str(secret))
    assert env_str("OMNI_TEST_SECRET") == "s3cr3t-from-file"


def test_unreadable_secret_file_fails_loudly(monkeypatch, tmp_path):
    monkeypatch.setenv("OMNI_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="OMNI_TEST_SECRET_FILE"):
        env_str("OMNI_TEST_SECRET")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("no", False), ("0", False), ("", False)]
)
def test_env_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("OMNI_TEST_FLAG", raw)
    assert env_bool("OMNI_TEST_FLAG") is expected


def test_malformed_boolean_is_refused_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("OMNI_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="OMNI_TEST_FLAG"):
        env_bool("OMNI_TEST_FLAG")


def test_malformed_or_too_small_integer_is_refused(monkeypatch):
    monkeypatch.setenv("OMNI_TEST_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("OMNI_TEST_INT", 1)
    monkeypatch.setenv("OMNI_TEST_INT", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("OMNI_TEST_INT", 1, minimum=0)
    monkeypatch.setenv("OMNI_TEST_INT", "42")
    assert env_int("OMNI_TEST_INT", 1) == 42


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("OMNI_TEST_LIST", "a.example, b.example,,")
    assert env_list("OMNI_TEST_LIST", []) == ["a.example", "b.example"]


def test_env_choice_refuses_values_outside_the_allowed_set(monkeypatch):
    monkeypatch.setenv("OMNI_TEST_LANG", "fr")
    with pytest.raises(ImproperlyConfigured, match="must be one of"):
        env_choice("OMNI_TEST_LANG", "en", {"en", "zh-hans"})
