"""Issue 23 point 4: a cloud deployment gets its own, longer window to answer."""

from __future__ import annotations

import pytest

from services.verifier.handlers import verify_window
from shared.settings import Settings


@pytest.mark.parametrize(
    ("target", "window"),
    [("local", 45.0), ("aws-ec2", 600.0), ("aws-serverless", 600.0), ("kubernetes", 600.0)],
)
def test_each_target_gets_its_window(target: str, window: float) -> None:
    settings = Settings(_env_file=None, verify_timeout_s=45, cloud_verify_timeout_s=600)  # type: ignore[call-arg]
    assert verify_window(settings, target) == window


def test_the_cloud_window_is_longer_by_default() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert verify_window(settings, "aws-ec2") > verify_window(settings, "local") == 60
