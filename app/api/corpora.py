"""/v1/corpora: passages for the retrieved arm (JSONL or plain text as the request body)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import StoreDep
from app.api.guards import JsonBodyRoute
from app.service import corpora
from app.service.corpora import CorpusFormat, CorpusView

router = APIRouter(prefix="/v1/corpora", tags=["corpora"], route_class=JsonBodyRoute)

BODY = {
    "required": True,
    "content": {
        "application/jsonl": {
            "schema": {"type": "string"},
            "example": '{"id": "refund", "text": "Refunds are accepted within 45 days.", '
            '"source_case": "refund-window"}\n',
        },
        "text/plain": {
            "schema": {"type": "string"},
            "example": "Refunds are accepted within 45 days.\n\nStore credit never expires.\n",
        },
    },
}


@router.post(
    "",
    status_code=201,
    response_model=CorpusView,
    openapi_extra={"requestBody": BODY},
    responses={200: {"model": CorpusView, "description": "The same corpus was stored before"}},
)
async def create_corpus(
    store: StoreDep,
    request: Request,
    response: Response,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    format: Annotated[CorpusFormat, Query(description="jsonl, or text: blank-line paragraphs")],
) -> CorpusView:
    """Store passages and build their BM25 index, for runs with `retrieval: {corpus_id}`."""
    view, created = await corpora.create_corpus(store, name, await request.body(), format)
    if not created:
        response.status_code = 200
    return view


@router.get("/{corpus_id}", response_model=CorpusView)
async def get_corpus(store: StoreDep, corpus_id: str) -> CorpusView:
    return await corpora.get_corpus(store, corpus_id)
