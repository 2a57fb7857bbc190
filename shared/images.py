"""The base-image override setting, read the same way by every stage that builds."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["load_base_image_overrides"]


def load_base_image_overrides(setting: str) -> dict[str, str]:
    """BASE_IMAGE_OVERRIDES: a JSON object, or the path of a JSON file holding one."""
    if not setting.strip():
        return {}
    text = setting if setting.lstrip().startswith("{") else Path(setting).read_text()
    mapping = json.loads(text)
    if not isinstance(mapping, dict):
        raise ValueError("BASE_IMAGE_OVERRIDES must be a JSON object of image → image")
    return {str(k): str(v) for k, v in mapping.items() if not str(k).startswith("_")}
