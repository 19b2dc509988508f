"""`GET /audio/{id}`: generated audio for Twilio's `<Play>` (unguessable ids, expiring), made
by this replica or by any other sharing `AUDIO_CACHE_DIR` (`lidia.phone.audio_cache`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from lidia.core.openapi import error_responses, media
from lidia.phone.deps import PhoneDep

router = APIRouter(tags=["twilio"])


@router.get(
    "/audio/{audio_id}",
    response_class=Response,
    responses={200: media("Generated audio for <Play>", "audio/wav"), **error_responses(404)},
)
async def audio(audio_id: str, phone: PhoneDep) -> Response:
    item = await phone.audio.fetch(audio_id)
    if item is None:
        raise HTTPException(status_code=404, detail="unknown or expired audio")
    return Response(item[0], media_type=item[1], headers={"Cache-Control": "no-store"})
