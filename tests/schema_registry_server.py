"""A Confluent-compatible Schema Registry for the tests: the documented REST endpoints only.

No registry server can be installed from the package registries these machines reach
(Confluent's is not on Maven Central or PyPI, Apicurio's Maven artifact is not a runnable server,
Karapace is not on PyPI), so the suite serves the endpoints confluent-kafka's
``SchemaRegistryClient`` calls for the Avro, Protobuf and JSON Schema serdes, and talks to them
only through that client (and confluent-kafka's own serializers):

* ``POST /subjects/{s}/versions`` register; ``POST /subjects/{s}`` look up;
* ``GET /schemas/ids/{id}`` (``format`` accepted: schemas are served as they were registered;
  confluent-kafka registers Protobuf in the serialized form, so that is what ``serialized``
  returns), ``GET /schemas/guids/{guid}``, ``GET /schemas/ids/{id}/versions``;
* ``GET /subjects``, ``GET /subjects/{s}/versions``, ``GET /subjects/{s}/versions/{v|latest}``;
* ``GET|PUT /config[/{s}]``; ``POST /compatibility/subjects/{s}/versions/{v}``. This registry does
  not judge schemas: a subject is compatible unless a test set its level to ``FORBID`` with
  ``PUT /config/{s}``, which also makes registering a new schema under it fail (409).

It records every request path (``requests``) so a test can see what a client asked for, and can
demand basic auth (``user``/``password``).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["RegistryServer"]

_CT = "application/vnd.schemaregistry.v1+json"


@dataclass
class _Stored:
    id: int
    guid: str
    schema: str
    schema_type: str  # AVRO, PROTOBUF, JSON
    references: list[dict[str, Any]]

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "guid": self.guid, "schema": self.schema}
        if self.schema_type != "AVRO":  # the registry omits it for Avro
            out["schemaType"] = self.schema_type
        if self.references:
            out["references"] = self.references
        return out


@dataclass
class _State:
    schemas: list[_Stored] = field(default_factory=list)
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject -> schema ids
    config: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RegistryServer:
    """``with RegistryServer() as reg: reg.url``."""

    def __init__(self, *, user: str | None = None, password: str | None = None) -> None:
        self.state = _State()
        self.requests: list[str] = []
        self.auth = (
            "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> RegistryServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", _CT)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                server.requests.append(f"{method} {self.path}")
                if server.auth and self.headers.get("Authorization") != server.auth:
                    self._send(401, {"error_code": 401, "message": "Unauthorized"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                segs = [unquote(s) for s in parts.path.strip("/").split("/") if s]
                query = parse_qs(parts.query)
                with server.state.lock:
                    status, answer = server._answer(method, segs, query, body)
                self._send(status, answer)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PUT(self) -> None:
                self._route("PUT")

        return Handler

    # -- the registry ----------------------------------------------------------------------

    def _find(self, schema: str, kind: str, refs: list[dict[str, Any]]) -> _Stored | None:
        for s in self.state.schemas:
            if s.schema == schema and s.schema_type == kind and s.references == refs:
                return s
        return None

    def _by_id(self, schema_id: int) -> _Stored | None:
        return next((s for s in self.state.schemas if s.id == schema_id), None)

    def _version_body(self, subject: str, version: int) -> dict[str, Any]:
        s = self._by_id(self.state.subjects[subject][version - 1])
        assert s is not None
        return {**s.body(), "subject": subject, "version": version}

    def _answer(
        self, method: str, segs: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        st = self.state
        not_found = (404, {"error_code": 40403, "message": "Schema not found"})
        if segs[:1] == ["schemas"] and len(segs) >= 3:
            if segs[1] == "ids":
                s = self._by_id(int(segs[2]))
                if s is None:
                    return not_found
                if len(segs) == 4 and segs[3] == "versions":
                    return 200, [
                        {"subject": subj, "version": i + 1}
                        for subj, ids in st.subjects.items()
                        for i, sid in enumerate(ids)
                        if sid == s.id
                    ]
                return 200, s.body()
            if segs[1] == "guids":
                s = next((x for x in st.schemas if x.guid == segs[2]), None)
                return (200, s.body()) if s else not_found
        if segs[:1] == ["subjects"]:
            if len(segs) == 1:
                return 200, sorted(st.subjects)
            subject = segs[1]
            if method == "POST" and len(segs) == 3 and segs[2] == "versions":
                return self._register(subject, body)
            if method == "POST" and len(segs) == 2:
                kind = body.get("schemaType", "AVRO")
                s = self._find(body["schema"], kind, body.get("references") or [])
                if s is None or s.id not in st.subjects.get(subject, []):
                    return not_found
                return 200, self._version_body(subject, st.subjects[subject].index(s.id) + 1)
            if subject not in st.subjects:
                return 404, {"error_code": 40401, "message": f"Subject '{subject}' not found."}
            if len(segs) == 3 and segs[2] == "versions":
                return 200, list(range(1, len(st.subjects[subject]) + 1))
            if len(segs) == 4 and segs[2] == "versions":
                n = len(st.subjects[subject])
                v = n if segs[3] in ("latest", "-1") else int(segs[3])
                if not 1 <= v <= n:
                    return 404, {"error_code": 40402, "message": "Version not found."}
                return 200, self._version_body(subject, v)
        if segs[:1] == ["config"]:
            key = segs[1] if len(segs) > 1 else ""
            if method == "PUT":
                st.config[key] = body["compatibility"]
                return 200, {"compatibility": body["compatibility"]}
            return 200, {"compatibilityLevel": st.config.get(key, st.config.get("", "BACKWARD"))}
        if segs[:2] == ["compatibility", "subjects"]:
            return 200, {"is_compatible": st.config.get(segs[2]) != "FORBID"}
        return 404, {"error_code": 404, "message": f"no such endpoint {'/'.join(segs)}"}

    def _register(self, subject: str, body: dict[str, Any]) -> tuple[int, Any]:
        st = self.state
        kind = body.get("schemaType", "AVRO")
        refs = body.get("references") or []
        ids = st.subjects.setdefault(subject, [])
        s = self._find(body["schema"], kind, refs)
        if s is None:
            if ids and st.config.get(subject) == "FORBID":
                return 409, {
                    "error_code": 409,
                    "message": "Schema being registered is incompatible",
                }
            s = _Stored(len(st.schemas) + 1, str(uuid.uuid4()), body["schema"], kind, refs)
            st.schemas.append(s)
        if s.id not in ids:
            ids.append(s.id)
        return 200, {**s.body(), "subject": subject, "version": ids.index(s.id) + 1}
