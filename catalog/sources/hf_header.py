"""Reading a remote GGUF's header with HTTP range requests, before any download.

The first megabytes are fetched and parsed; a header longer than that (large
vocabularies) asks for the next bytes, doubling what it holds each time, up to MAX_BYTES, so
what is read stays within twice the header. Nothing is written to disk.
"""

from __future__ import annotations

from catalog.errors import InvalidModelFileError
from catalog.gguf_header import BadHeader, TruncatedHeader, parse_header
from catalog.gguf_info import GgufInfo, info_from_header
from catalog.sources.hf import HfFile, RemoteFile, remote_file
from catalog.sources.hf_errors import hub_errors

FIRST_BYTES = 4 << 20
MAX_BYTES = 256 << 20


def fetch_range(remote: RemoteFile, target: HfFile, first: int, last: int) -> bytes:
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = {**build_hf_headers(), "Range": f"bytes={first}-{last}"}
    if not remote.url.startswith(target.base_url):
        headers.pop("authorization", None)
    with hub_errors(target.repo, target.filename):
        response = get_session().get(remote.url, headers=headers, follow_redirects=True)
        hf_raise_for_status(response)
    return bytes(response.content[: last - first + 1])


def read_remote_gguf_info(
    target: HfFile, first_bytes: int = FIRST_BYTES
) -> tuple[GgufInfo, RemoteFile]:
    """The header of `target` and what the repo says about the file (size, sha256)."""
    remote = remote_file(target)
    want = min(first_bytes, remote.size)
    prefix = b""
    while True:
        prefix += fetch_range(remote, target, len(prefix), want - 1)
        try:
            return info_from_header(parse_header(prefix, remote.size)), remote
        except TruncatedHeader:
            if want >= min(remote.size, MAX_BYTES):
                raise InvalidModelFileError(
                    f"{target.repo}/{target.filename}: header longer than {want >> 20} MiB"
                ) from None
        except BadHeader as error:
            raise InvalidModelFileError(f"{target.repo}/{target.filename}: {error}") from error
        want = min(want * 2, remote.size, MAX_BYTES)
