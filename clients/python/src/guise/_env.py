"""The settings Guise gives the backends it starts, read from the environment on each use
(so that a test, or a shell, may set them late)."""

import os
from dataclasses import dataclass
from typing import Optional

from ._errors import GuiseException


@dataclass(frozen=True)
class Settings:
    url: str
    client_id: str
    client_secret: str


def require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise GuiseException(
            None,
            "missing_setting",
            f"the environment variable {name} is not set: Guise sets it for the webapp backends it "
            "starts; to run this code elsewhere, set it yourself",
        )
    return value


def base_url() -> str:
    return require("GUISE_URL").rstrip("/")


def settings() -> Settings:
    return Settings(base_url(), require("GUISE_CLIENT_ID"), require("GUISE_CLIENT_SECRET"))


def project_key() -> str:
    return require("GUISE_PROJECT_KEY")


def webapp_slug() -> Optional[str]:
    return os.environ.get("GUISE_WEBAPP_SLUG", "").strip() or None
