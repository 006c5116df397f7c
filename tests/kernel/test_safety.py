import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from omniservice.safety import INSECURE_KEY_PREFIX, check_production_safety

GOOD_KEY = "k" * 50


def test_local_only_install_may_use_the_development_key_and_debug():
    check_production_safety(
        secret_key=INSECURE_KEY_PREFIX + "x", debug=True, allowed_hosts=["localhost", "127.0.0.1"]
    )


def test_debug_on_a_public_host_is_refused():
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        check_production_safety(
            secret_key=GOOD_KEY, debug=True, allowed_hosts=["support.example.com"]
        )


@pytest.mark.parametrize("key", [INSECURE_KEY_PREFIX + "x" * 40, "short"])
def test_default_or_short_secret_key_on_a_public_host_is_refused(key):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        check_production_safety(secret_key=key, debug=False, allowed_hosts=["support.example.com"])


def test_public_host_with_real_key_and_debug_off_starts():
    check_production_safety(secret_key=GOOD_KEY, debug=False, allowed_hosts=["support.example.com"])


def test_settings_refuse_to_load_when_public_without_secret_key():
    """The real settings module stops the process, not just the helper function."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(ALLOWED_HOSTS="support.example.com", DJANGO_SETTINGS_MODULE="omniservice.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
