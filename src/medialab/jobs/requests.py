"""What the bot hands to a worker: one job per operation, its arq job id the operation id, so
enqueueing the same operation twice runs it once."""

from __future__ import annotations

import msgspec
from arq.connections import ArqRedis

from medialab.jobs.enqueue import enqueue_once

GENERATION_JOB = "generate_image"


class GenerationRequest(msgspec.Struct, frozen=True):
    operation_id: str
    # users.id (billing's key) and the Telegram id (the chat to deliver to).
    user_id: int
    telegram_id: int
    operation_type: str
    language: str = "ru"
    prompt: str | None = None
    # Telegram file ids of the input photos; the worker fetches them with getFile.
    photo_file_ids: tuple[str, ...] = ()
    # The operation has a row in billing, settled or ended through it (add_text too, at price 0).
    # False only in add_text jobs queued by a release from before add_text had a row.
    billed: bool = True


async def enqueue_generation(arq: ArqRedis, request: GenerationRequest) -> bool:
    """True when queued now; False when a job with this operation id already exists."""
    return await enqueue_once(arq, GENERATION_JOB, request.operation_id, msgspec.to_builtins(request))


def request_from_job(payload: dict) -> GenerationRequest:  # type: ignore[type-arg]
    return msgspec.convert(payload, GenerationRequest)
