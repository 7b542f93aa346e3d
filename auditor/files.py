"""Reading the tool's own JSON files (plans, backups, findings) with one clear error per problem."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def model_from_text(text: str, model: type[M], where: str, what: str, error: type[Exception]) -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise error(f"{where}: not a valid {what} at {loc}: {first['msg']}") from None


def load_model(path: str | Path, model: type[M], what: str, error: type[Exception]) -> M:
    """``model`` from the JSON file at ``path``; ``error`` (never a traceback) when unreadable or invalid."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{p}: not a {what} (not UTF-8 text)") from None
    return model_from_text(text, model, str(p), what, error)
