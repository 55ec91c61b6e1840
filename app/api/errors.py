"""Errors at the HTTP edge: every failure is a JSON body whose `loc` names the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.schemas import ErrorBody
from app.diagnosis.suite import located_errors
from app.service.errors import ConflictError, InvalidRequestError, NotFoundError

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid JSON"},
    401: {"model": ErrorBody, "description": "Missing or invalid API key (RUNG_API_KEYS)"},
    404: {"model": ErrorBody, "description": "No such suite, run or delivery"},
    413: {"model": ErrorBody, "description": "The body is larger than the limit"},
    415: {"model": ErrorBody, "description": "The body is not sent as application/json"},
    422: {"model": ErrorBody, "description": "Invalid input; each problem names its field"},
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    # The request part (body, query, path) is not a field the user named.
    errors = [
        {**err, "loc": [p for p in err["loc"] if p not in ("body", "query", "path")]}
        for err in exc.errors()
    ]
    return [{"loc": e.loc or "body", "msg": e.msg} for e in located_errors(errors)]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(
                {"detail": [{"loc": "body", "msg": "request body is not valid JSON"}]}, 400
            )
        return JSONResponse({"detail": _validation_errors(exc)}, 422)

    @app.exception_handler(InvalidRequestError)
    async def _unservable(_: Request, exc: InvalidRequestError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": exc.loc, "msg": exc.msg}]}, 422)

    @app.exception_handler(NotFoundError)
    async def _missing(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 409)
