"""/v1/runs/{id}/kit: the next-rung kit of a finished run, as one zip."""

from __future__ import annotations

import io
import zipfile

from fastapi import APIRouter
from fastapi.responses import Response

from app.api.deps import StoreDep
from app.kit import Kit
from app.service import kits

router = APIRouter(prefix="/v1/runs", tags=["runs"])

# A fixed timestamp for every entry: the same run gives the same zip, byte for byte.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def kit_zip(kit: Kit, folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in kit.files.items():
            entry = zipfile.ZipInfo(f"{folder}/{name}", date_time=_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, text.encode("utf-8"))
    return buffer.getvalue()


@router.get(
    "/{run_id}/kit",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The kit as a zip"},
        409: {"description": "The run has not finished, or ended without a verdict"},
    },
)
async def get_kit(store: StoreDep, run_id: str) -> Response:
    """The next-rung kit: a retrieval corpus from the knowledge cases, a candidate prompt
    drafted from the failure kinds, fine-tuning data with a held-out split and a LoRA config
    for the behavior cases that persist, and a README on what to do first."""
    kit = await kits.run_kit(store, run_id)
    folder = f"rung-kit-{run_id}"
    return Response(
        kit_zip(kit, folder),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{folder}.zip"'},
    )
