"""A Python app that dies because a settings library found no value names that variable.

python-decouple and environs word it their own way; the reason used to be the traceback's
last lines (`return self.config(*args, **kwargs)`), which named nothing a user could set.
"""

from __future__ import annotations

import pytest

from services.verifier.diagnosis import diagnose
from services.verifier.health import HealthReport

_DECOUPLE = """Traceback (most recent call last):
  File "/app/main.py", line 10, in <module>
    client.key = config("BILLING_API_KEY")
  File "/opt/venv/lib/python3.13/site-packages/decouple.py", line 92, in get
    raise UndefinedValueError(msg.format(option))
decouple.UndefinedValueError: BILLING_API_KEY not found. Declare it as envvar or define a \
default value.
"""
_ENVIRONS = """Traceback (most recent call last):
  File "/app/settings.py", line 4, in <module>
    MAIL_TOKEN = env.str("MAIL_TOKEN")
environs.EnvError: Environment variable "MAIL_TOKEN" not set
"""


# An app's own helper that takes the value from a variable or a file, worded as a request.
_ASKS = """  File "/app/hooks/__main__.py", line 136, in load_secret
    raise Exception(f"You need to set either {key} or {file_key}.")
Exception: You need to set either HOOK_SECRET or HOOK_SECRET_FILE.
"""
_PLEASE = "Error: please set SMTP_PASSWORD before starting the mailer\n"


@pytest.mark.parametrize(
    ("logs", "name"),
    [
        (_DECOUPLE, "BILLING_API_KEY"),
        (_ENVIRONS, "MAIL_TOKEN"),
        (_ASKS, "HOOK_SECRET"),
        (_PLEASE, "SMTP_PASSWORD"),
    ],
)
def test_settings_library_names_the_missing_variable(logs: str, name: str) -> None:
    found = diagnose(logs, HealthReport(url="http://127.0.0.1:1/"), exit_code=1, expected_port=8000)
    assert found.missing_env == name
    assert f"environment variable {name} is not set" in found.cause
    assert not found.repairable


def test_missing_python_module_is_named() -> None:
    # An unpinned library moved to another driver (SQLAlchemy 2.1: postgresql:// means
    # psycopg 3) while the requirements install the old one: the import names the gap.
    logs = (
        "Traceback (most recent call last):\n"
        '  File "/usr/src/app/manage.py", line 4, in <module>\n'
        "    import psycopg\n"
        "ModuleNotFoundError: No module named 'psycopg'\n"
    )
    found = diagnose(logs, HealthReport(url="http://127.0.0.1:1/"), exit_code=1, expected_port=5000)
    assert "imports the Python module 'psycopg'" in found.cause
    assert found.cause.startswith("the app exited with code 1 before answering")
    assert found.evidence == "ModuleNotFoundError: No module named 'psycopg'"
