"""Checks that response bodies parse with the PyPI package `fhir.resources`.

Two uses:

* as a module, by the Python client flows: `BodyRecorder` hooks into the
  `requests` library the clients use and keeps every response; `check_all`
  then parses each JSON body with `fhir.resources`;
* as a script, for the JavaScript flow: `validate_bodies.py FILE` reads a
  JSON array of `{"label": ..., "body": ...}` (the bodies the client
  received) and parses each one.

`fhir.resources` 6.5.0 models FHIR 4.3.0 (R4B), the R4 technical correction
whose Patient, Bundle and OperationOutcome are the same as R4's; it has no
separate R4 package. A body that does not parse is an error, named with its
label and pydantic's own list of issues. Exits 1 when any body fails.
"""

import json
import sys

import fhir.resources
from fhir.resources import construct_fhir_element


def validate_body(label, body):
    """Returns None when `body` (a dict, or JSON text) parses as the FHIR
    resource its `resourceType` names, or an error message."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError as e:
            return f"{label}: body is not JSON ({e}): {body[:300]!r}"
    if not isinstance(body, dict):
        return f"{label}: body is not a JSON object: {json.dumps(body)[:300]}"
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str):
        return f"{label}: body has no resourceType: {json.dumps(body)[:300]}"
    try:
        construct_fhir_element(resource_type, body)
    except Exception as e:  # pydantic.ValidationError, LookupError, ...
        return (
            f"{label}: does not parse as {resource_type} with fhir.resources "
            f"{fhir.resources.__version__}:\n{e}\nbody: {json.dumps(body)[:2000]}"
        )
    return None


class BodyRecorder:
    """A `requests` response hook that keeps (label, status, bytes) of every
    response, so the flows can validate every body the library received and
    see the status of a call whose library error does not carry it."""

    def __init__(self):
        self.responses = []

    def __call__(self, response, *args, **kwargs):
        label = f"{response.request.method} {response.request.url} -> {response.status_code}"
        self.responses.append((label, response.status_code, response.content))
        return response

    def last_status(self):
        return self.responses[-1][1] if self.responses else None

    def check_all(self):
        """Validates every non-empty body; returns the error messages and
        prints how many bodies were checked."""
        errors = []
        checked = 0
        for label, _status, content in self.responses:
            if not content:
                continue
            checked += 1
            err = validate_body(label, content)
            if err:
                errors.append(err)
        print(f"fhir.resources {fhir.resources.__version__}: {checked} response bodies checked, {len(errors)} failed")
        return errors


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} BODIES.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        records = json.load(f)
    errors = []
    for i, rec in enumerate(records):
        err = validate_body(rec.get("label", f"body {i}"), rec.get("body"))
        if err:
            errors.append(err)
    print(f"fhir.resources {fhir.resources.__version__}: {len(records)} response bodies checked, {len(errors)} failed")
    for err in errors:
        print(f"FAIL {err}", file=sys.stderr)
    if not records:
        print("FAIL no bodies to check", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
