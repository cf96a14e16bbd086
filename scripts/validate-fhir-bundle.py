#!/usr/bin/env python3
"""Validates one FHIR R4 Bundle (JSON on standard input) independently of aghub's own code.

The models are fhir.resources 6.4.0 from PyPI, the last release generated from FHIR R4 (4.0.1);
6.5.0 and later are R4B (4.3.0) or R5. Parsing checks every element's name, type, cardinality,
required elements, choice types and primitive formats (dates, instants, ids, URIs). On top of
that, with the same package's metadata, this script checks:
  - codes with a required binding against the values the R4 models list for them
    (Bundle.type, Patient.gender, ServiceRequest.status/intent/priority, ...); where the
    package lists a code set only in part (Task.status), against the set written out below;
  - every `urn:uuid:` fullUrl is a UUID and equals `urn:uuid:` + the resource's id;
  - every Reference.reference inside the bundle names an entry's fullUrl.

Exits 0 when the bundle is valid, 1 with one line per problem on standard error otherwise, and
2 when the validator itself is missing or is not the R4 one (run scripts/deps.sh's
ensure_fhir_validator).

Run: "$AGHUB_FHIR_PYTHON" scripts/validate-fhir-bundle.py < bundle.json
"""

import json
import sys
import uuid

try:
    import fhir.resources
    from fhir.resources.bundle import Bundle
    from fhir.resources.core.fhirabstractmodel import FHIRAbstractModel
    from fhir.resources.reference import Reference
    from pydantic import ValidationError
except ImportError as e:  # pragma: no cover
    print(f"fhir.resources is not installed ({e}): source scripts/deps.sh; ensure_fhir_validator",
          file=sys.stderr)
    sys.exit(2)

if fhir.resources.__fhir_version__ != "4.0.1":
    print(f"fhir.resources {fhir.resources.__version__} models FHIR {fhir.resources.__fhir_version__}, "
          "not R4 (4.0.1): install 6.4.0", file=sys.stderr)
    sys.exit(2)


# Required code sets that fhir.resources lists only in part, written out from the R4 (4.0.1)
# specification's code systems.
COMPLETE = {
    ("Task", "status"): [
        "draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
        "in-progress", "on-hold", "failed", "completed", "entered-in-error",
    ],
}


def walk(node, path, problems, references):
    if isinstance(node, list):
        for i, item in enumerate(node):
            walk(item, f"{path}[{i}]", problems, references)
        return
    if not isinstance(node, FHIRAbstractModel):
        return
    if isinstance(node, Reference) and node.reference is not None:
        references.append((path, node.reference))
    for name, field in node.__fields__.items():
        value = getattr(node, name, None)
        if value is None:
            continue
        label = f"{path}.{field.alias}"
        allowed = field.field_info.extra.get("enum_values")
        if allowed and "+" in allowed:
            # The generator lists long code sets only in part ("+" for the rest).
            allowed = COMPLETE.get((type(node).__name__, name))
        if allowed and isinstance(value, str) and value not in allowed:
            problems.append(f"{label}: '{value}' is not one of {allowed} (required binding)")
        walk(value, label, problems, references)


def main():
    try:
        data = json.load(sys.stdin)
    except json.JSONDecodeError as e:
        print(f"not JSON: {e}", file=sys.stderr)
        return 1
    if data.get("resourceType") != "Bundle":
        print(f"resourceType is {data.get('resourceType')!r}, not 'Bundle'", file=sys.stderr)
        return 1
    try:
        bundle = Bundle.parse_obj(data)
    except ValidationError as e:
        print(str(e), file=sys.stderr)
        return 1
    problems, references = [], []
    walk(bundle, "Bundle", problems, references)
    full_urls = set()
    for i, entry in enumerate(bundle.entry or []):
        where = f"Bundle.entry[{i}]"
        if entry.fullUrl is None or entry.resource is None:
            problems.append(f"{where}: needs a fullUrl and a resource")
            continue
        if entry.fullUrl in full_urls:
            problems.append(f"{where}.fullUrl: {entry.fullUrl} appears twice")
        full_urls.add(entry.fullUrl)
        if entry.fullUrl.startswith("urn:uuid:"):
            try:
                uuid.UUID(entry.fullUrl[len("urn:uuid:"):])
            except ValueError:
                problems.append(f"{where}.fullUrl: {entry.fullUrl} is not a UUID")
            if entry.resource.id != entry.fullUrl[len("urn:uuid:"):]:
                problems.append(f"{where}: resource.id {entry.resource.id} differs from fullUrl")
    for path, reference in references:
        if reference not in full_urls:
            problems.append(f"{path}: {reference} names no entry of this bundle")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"valid FHIR R4 Bundle ({len(bundle.entry or [])} entries; "
          f"fhir.resources {fhir.resources.__version__}, FHIR {fhir.resources.__fhir_version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
