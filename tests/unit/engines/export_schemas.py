"""Validators for `hostbench export`'s manifests, against the schemas of the systems that run
them (sources and versions: tests/fixtures/schemas/README.md): the Kubernetes OpenAPI schema
in its strict form, KServe's InferenceService CRD schema, the Compose Specification's JSON
schema; plus the API server's and KServe's name rules, which no OpenAPI schema carries.

Each validator returns every problem as `path: message` lines; an empty list is valid."""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

KUBERNETES_VERSIONS = ("1.30", "1.37")
"""The oldest and newest Kubernetes the checks run against (kubernetes-validate 1.37 ships
strict schemas for both)."""

KSERVE_SCHEMA = (
    Path(__file__).parents[2] / "fixtures/schemas/kserve-inferenceservice-v1beta1.json.gz"
)
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = re.compile(rf"{DNS1123_LABEL}(\.{DNS1123_LABEL})*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
"""Kubernetes apimachinery's name formats (k8s.io/apimachinery/pkg/util/validation): a
Deployment's name is a DNS-1123 subdomain (253 characters), a Service's a DNS-1035 label (63),
and KServe's webhook holds an InferenceService's name to the same DNS-1035 format
(`IsvcNameFmt` in pkg/apis/serving/v1beta1/inference_service_validation.go)."""

NAME_RULES: dict[str, tuple[re.Pattern[str], int]] = {
    "Deployment": (DNS1123_SUBDOMAIN, 253),
    "Service": (DNS1035_LABEL, 63),
    "InferenceService": (DNS1035_LABEL, 63),
}


def kubernetes_errors(document: dict[str, Any], version: str) -> list[str]:
    """The strict Kubernetes schema (unknown fields refused) for `version`, and the name."""
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [_line(error), *name_errors(document)]
    return name_errors(document)


def kserve_errors(document: dict[str, Any]) -> list[str]:
    """KServe's CRD schema, closed as strict field validation closes it, with `metadata`
    checked as Kubernetes' ObjectMeta (the CRD leaves it to the API server)."""
    found = [_line(e) for e in _kserve_validator().iter_errors(document)]
    meta = document.get("metadata", {})
    found += [f"metadata{_line(e)}" for e in _object_meta_validator().iter_errors(meta)]
    return found + name_errors(document)


def compose_errors(document: dict[str, Any]) -> list[str]:
    return [_line(e) for e in _compose_validator().iter_errors(document)]


def name_errors(document: dict[str, Any]) -> list[str]:
    rule = NAME_RULES.get(document.get("kind", ""))
    name = document.get("metadata", {}).get("name", "")
    if rule is None or (rule[0].fullmatch(name) and len(name) <= rule[1]):
        return []
    return [f"metadata.name: {name!r} is not a valid {document['kind']} name"]


def _line(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return f"{path}: {error.message[:300]}"


@cache
def _kserve_validator() -> jsonschema.Draft4Validator:
    """OpenAPI v3 schemas follow JSON Schema draft 4's semantics."""
    schema = json.loads(gzip.decompress(KSERVE_SCHEMA.read_bytes()))
    return jsonschema.Draft4Validator(_closed(schema))


def _closed(schema: Any) -> Any:
    """What the API server's strict field validation does with a structural schema: an
    object with declared properties refuses any other, unless it preserves unknown fields."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if schema.get("type") == "object" and "properties" in schema and not open_ended:
        closed["additionalProperties"] = False
    return closed


@cache
def _object_meta_validator() -> jsonschema.Draft202012Validator:
    version = kubernetes_validate.utils.latest_version()
    folder = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    schema = {"$ref": f"{definitions['$id']}#/$defs/{OBJECT_META}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def _compose_validator() -> jsonschema.protocols.Validator:
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
