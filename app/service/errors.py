"""The service layer's exceptions share one base; the API maps each to a status code."""

from __future__ import annotations


class ServiceError(Exception):
    """The base of what a user's request can run into."""


class NotFoundError(ServiceError, LookupError):
    """No such suite, run or delivery (404)."""


class InvalidRequestError(ServiceError, ValueError):
    """A request that parsed but cannot be served (422); `loc` names the field at fault."""

    def __init__(self, loc: str, msg: str) -> None:
        super().__init__(f"{loc}: {msg}")
        self.loc = loc
        self.msg = msg


class ConflictError(ServiceError):
    """The request clashes with the state of what it names (409)."""
