"""The one exception the client raises for anything Guise refuses or fails to answer."""

from typing import Optional


class GuiseException(Exception):
    """A failed call to Guise.

    `status` is the HTTP status (None when no answer came back or the failure was found here),
    `error` the error code (the RFC 6749 words Guise answers with, such as `invalid_token` or
    `insufficient_scope`), `description` what exactly went wrong, and `call` the request
    (`POST /v2/datasets/orders/build`) when there was one.
    """

    def __init__(self, status: Optional[int], error: str, description: str = "", call: Optional[str] = None):
        super().__init__(status, error, description)
        self.status = status
        self.error = error
        self.description = description
        self.call = call

    @property
    def error_description(self) -> str:
        """The RFC 6749 name of `description`."""
        return self.description

    def __str__(self) -> str:
        text = self.error if self.status is None else f"{self.status} {self.error}"
        if self.description:
            text += f": {self.description}"
        if self.call:
            text += f" ({self.call})"
        return text
