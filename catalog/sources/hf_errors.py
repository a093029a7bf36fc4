"""Hugging Face failures as one-line catalog errors that say what to do.

The token itself never appears in a message: only whether HF_TOKEN is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from catalog.errors import AccessDeniedError, CatalogError, SourceUnavailableError

TOKEN_HELP = "a read token from https://huggingface.co/settings/tokens"


def token_is_set() -> bool:
    return bool(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"))


def gated_message(repo: str) -> str:
    if token_is_set():
        return (
            f"{repo} is gated and HF_TOKEN has no access to it: accept its terms at "
            f"https://huggingface.co/{repo} with the account the token belongs to"
        )
    return (
        f"{repo} is gated: accept its terms at https://huggingface.co/{repo}, then set "
        f"HF_TOKEN to {TOKEN_HELP}"
    )


def missing_repo_message(repo: str) -> str:
    private = "" if token_is_set() else f"; if it is private, set HF_TOKEN to {TOKEN_HELP}"
    return f"no repo {repo} on Hugging Face (or it is private): check the name{private}"


class NetworkError(SourceUnavailableError):
    """A transient failure (connection, timeout, 5xx): worth retrying."""


@contextmanager
def hub_errors(repo: str, filename: str) -> Iterator[None]:
    """Translate huggingface_hub and httpx failures raised inside the block."""
    import httpx2
    from huggingface_hub import errors

    try:
        yield
    except errors.GatedRepoError as error:
        raise AccessDeniedError(gated_message(repo)) from error
    except errors.RepositoryNotFoundError as error:
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403) and token_is_set():
            raise AccessDeniedError(
                f"HF_TOKEN was refused for {repo} (HTTP {status}): check the token"
            ) from error
        raise SourceUnavailableError(missing_repo_message(repo)) from error
    except errors.RemoteEntryNotFoundError as error:
        raise SourceUnavailableError(
            f"{repo} has no file {filename} (the catalog entry may be out of date)"
        ) from error
    except errors.RevisionNotFoundError as error:
        raise SourceUnavailableError(f"{repo} has no such revision") from error
    except errors.HfHubHTTPError as error:
        raise _http_failure(repo, error) from error
    except (httpx2.TransportError, errors.OfflineModeIsEnabled) as error:
        raise NetworkError(
            f"cannot reach Hugging Face for {repo} ({error}): check the network, a proxy, "
            "or HF_ENDPOINT"
        ) from error


def _http_failure(repo: str, error: object) -> CatalogError:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status in (401, 403):
        return AccessDeniedError(
            f"{repo} refused access (HTTP {status}): if it is gated, accept its terms at "
            f"https://huggingface.co/{repo}; set HF_TOKEN to {TOKEN_HELP}"
        )
    if status is not None and (status >= 500 or status in (408, 429)):
        return NetworkError(f"Hugging Face answered HTTP {status} for {repo}")
    return SourceUnavailableError(f"Hugging Face refused {repo}: HTTP {status}")
