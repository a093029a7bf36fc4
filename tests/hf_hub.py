"""A local Hugging Face Hub for tests: the endpoints huggingface_hub uses to download a
file, serving real bytes, with the failures real downloads meet (dropped connections,
corrupted bytes, gated and missing repos), and the model search (`GET /api/models`).
Point HF_ENDPOINT at `FakeHub.url`."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"
DEFAULT_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
DEFAULT_FILE = "smollm2-135m-instruct-q8_0.gguf"
"""Where the integration tests' hub serves the default model's bytes (the catalog's repo)."""


@dataclass
class Served:
    method: str
    path: str
    range: str | None
    authorized: bool
    query: dict[str, list[str]] = field(default_factory=dict)
    body_bytes: int = 0
    """What the answer's body carried (file bytes for a GET of a file)."""


@dataclass
class HubFile:
    data: bytes
    sha256: str = ""
    drop_at: list[int] = field(default_factory=list)
    """Offsets at which the next GETs close the connection mid-body, one per GET."""
    corrupt_at: int | None = None
    advertised_size: int | None = None
    fail_heads: list[int] = field(default_factory=list)
    """HTTP statuses the next HEAD requests answer with, one per request (e.g. 503)."""
    bytes_per_s: int | None = None
    """Send bodies at about this rate, so a test can act while a transfer is under way."""

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return self.advertised_size or len(self.data)


@dataclass
class FakeHub:
    files: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    served: list[Served] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def gets(self, name: str) -> list[Served]:
        return [s for s in self.served if s.method == "GET" and s.path.endswith("/" + name)]

    def searches(self) -> list[Served]:
        return [s for s in self.served if s.method == "GET" and s.path == "/api/models"]


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return None

    def _record(self) -> Served:
        auth = "authorization" in {k.lower() for k in self.headers}
        url = urlparse(self.path)
        served = Served(
            self.command, unquote(url.path), self.headers.get("Range"), auth, parse_qs(url.query)
        )
        self.hub.served.append(served)
        return served

    def _error(self, status: int, code: str, commit: bool = False) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", code)
        if commit:
            self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _lookup(self, repo: str, name: str) -> HubFile | None:
        if repo in self.hub.gated:
            self._error(401, "GatedRepo")
            return None
        if repo not in self.hub.files:
            self._error(404, "RepoNotFound")
            return None
        found = self.hub.files[repo].get(name)
        if found is None:
            self._error(404, "EntryNotFound", commit=True)
        return found

    def _resolve(self) -> tuple[str, str] | None:
        parts = unquote(urlparse(self.path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._error(404, "RepoNotFound")
            return None
        return f"{parts[0]}/{parts[1]}", "/".join(parts[4:])

    def _file_headers(self, item: HubFile) -> None:
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{item.sha256}"')
        self.send_header("X-Linked-Etag", f'"{item.sha256}"')
        self.send_header("X-Linked-Size", str(item.size))
        self.send_header("Accept-Ranges", "bytes")

    def do_HEAD(self) -> None:
        self._record()
        where = self._resolve()
        item = where and self._lookup(*where)
        if not item:
            return
        if item.fail_heads:
            self.send_response(item.fail_heads.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self._file_headers(item)
        self.send_header("Content-Length", str(item.size))
        self.end_headers()

    def do_GET(self) -> None:
        served = self._record()
        if served.path == "/api/models":
            return self._search(served)
        where = self._resolve()
        item = where and self._lookup(*where)
        if not item:
            return
        start, end = _range(self.headers.get("Range"), len(item.data))
        body = bytearray(item.data[start : end + 1])
        if item.corrupt_at is not None and item.corrupt_at >= start:
            body[item.corrupt_at - start] ^= 0xFF
        partial = self.headers.get("Range") is not None
        self.send_response(206 if partial else 200)
        self._file_headers(item)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(item.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        served.body_bytes = len(body)
        drop = item.drop_at.pop(0) if item.drop_at else None
        if drop is not None and drop > start:
            self.wfile.write(body[: drop - start])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        self._send_body(bytes(body), item.bytes_per_s)
        return None

    def _search(self, served: Served) -> None:
        """`HfApi.list_models(search=..., filter="gguf", limit=..., expand=[...])`: the
        repos whose id contains the search. Each item has the keys huggingface_hub 2.4's
        `ModelInfo.__init__` reads for the expanded fields (`siblings[].rfilename`,
        `downloads`, `likes`, `gated`, `lastModified`), as the Hub's JSON spells them."""
        query = served.query
        wanted = query.get("search", [""])[0].lower()
        limit = int(query.get("limit", ["1000"])[0])
        found = [repo for repo in self.hub.files if wanted in repo.lower()][:limit]
        self._json([self._model_item(repo) for repo in found])

    def _model_item(self, repo: str) -> dict[str, object]:
        return {
            "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
            "id": repo,
            "downloads": 1000,
            "likes": 10,
            "gated": "manual" if repo in self.hub.gated else False,
            "lastModified": "2026-01-02T03:04:05.000Z",
            "siblings": [{"rfilename": name} for name in ("README.md", *self.hub.files[repo])],
        }

    def _json(self, data: object) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _send_body(self, body: bytes, rate: int | None) -> None:
        """The whole body, or paced chunks; a client that went away just ends it."""
        step = max(1, len(body) if rate is None else rate // 20)
        try:
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                if rate is not None:
                    time.sleep(step / rate)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self) -> None:
        self._record()
        parts = unquote(urlparse(self.path).path).strip("/").split("/")
        repo = f"{parts[2]}/{parts[3]}" if len(parts) >= 6 else ""
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if repo in self.hub.gated:
            return self._error(401, "GatedRepo")
        if parts[:2] != ["api", "models"] or repo not in self.hub.files:
            return self._error(404, "RepoNotFound")
        known = self.hub.files[repo]
        self._json([_path_info(p, known[p]) for p in form.get("paths", []) if p in known])
        return None


def _path_info(path: str, item: HubFile) -> dict[str, object]:
    lfs = {"oid": item.sha256, "size": item.size, "pointerSize": 135}
    return {"type": "file", "oid": "f" * 40, "size": item.size, "path": path, "lfs": lfs}


def _range(header: str | None, size: int) -> tuple[int, int]:
    """(first, last) byte of a `bytes=a-b` or `bytes=a-` request; the whole file if none."""
    if not header or not header.startswith("bytes="):
        return 0, size - 1
    first, _, last = header.removeprefix("bytes=").partition("-")
    return int(first or 0), min(size - 1, int(last)) if last else size - 1
