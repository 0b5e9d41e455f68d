"""Redis keys arq uses for one job (its constants, kept in one place)."""

from __future__ import annotations

JOB = "arq:job:"
RESULT = "arq:result:"
IN_PROGRESS = "arq:in-progress:"
RETRY = "arq:retry:"
ABORT_SET = "arq:abort"


def job(full_id: str) -> str:
    return JOB + full_id


def result(full_id: str) -> str:
    return RESULT + full_id


def in_progress(full_id: str) -> str:
    return IN_PROGRESS + full_id


def retry(full_id: str) -> str:
    return RETRY + full_id
