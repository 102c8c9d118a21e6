"""Drives the server with the PyPI package `fhirclient` (SMART on FHIR):
create, read, update, search by identifier, history, delete, and a read
after the delete that must fail with 410 Gone. Every response body is also
parsed with `fhir.resources` (validate_bodies.py).

    python fhirclient_flow.py http://127.0.0.1:PORT/fhir

Exits 0 when every step passed; otherwise prints which step failed and why
and exits 1.
"""

import sys
import traceback
import uuid

import requests
from fhirclient import server as fhirserver
from fhirclient.models import bundle as fbundle
from fhirclient.models import humanname, identifier, patient

from validate_bodies import BodyRecorder

SYSTEM = "urn:test:fhirclient"


class FlowError(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise FlowError(msg)


def family_of(p):
    return p.name[0].family if p.name else None


def run(base, recorder, state):
    # A FHIRServer without a SMART client: an open server.
    srv = fhirserver.FHIRServer(None, base_uri=base)
    srv.session.hooks["response"].append(recorder)
    value = uuid.uuid4().hex

    state["step"] = "create"
    p = patient.Patient()
    ident = identifier.Identifier()
    ident.system = SYSTEM
    ident.value = value
    p.identifier = [ident]
    name = humanname.HumanName()
    name.family = "Fhirclient"
    name.given = ["Created"]
    p.name = [name]
    p.active = True
    created = p.create(srv)
    check(created is not None, "create: the server answered without a body (fhirclient returns None)")
    created = patient.Patient(created)
    pid = created.id
    check(pid, "create: the returned Patient has no id")
    check(created.meta and created.meta.versionId == "1", f"create: meta.versionId is {created.meta and created.meta.versionId!r}, expected '1'")
    print(f"create: Patient/{pid}")

    state["step"] = "read"
    read = patient.Patient.read(pid, srv)
    check(read.id == pid, f"read: id {read.id!r} != {pid!r}")
    check(read.identifier and read.identifier[0].value == value, "read: identifier lost")
    check(family_of(read) == "Fhirclient", f"read: family {family_of(read)!r}")

    state["step"] = "update"
    read.name[0].family = "Updated"
    updated = read.update(srv)
    check(updated is not None, "update: the server answered without a body")
    updated = patient.Patient(updated)
    check(updated.id == pid, f"update: id {updated.id!r} != {pid!r}")
    check(updated.meta.versionId == "2", f"update: meta.versionId {updated.meta.versionId!r}, expected '2'")
    again = patient.Patient.read(pid, srv)
    check(family_of(again) == "Updated", f"read after update: family {family_of(again)!r}")

    state["step"] = "search"
    search = patient.Patient.where(struct={"identifier": f"{SYSTEM}|{value}"})
    bundles = list(search.perform_iter(srv))
    check(bundles and bundles[0].type == "searchset", f"search: Bundle.type {bundles and bundles[0].type!r}")
    found = [e.resource for b in bundles for e in (b.entry or []) if e.resource is not None]
    check(len(found) == 1, f"search: {len(found)} Patients match identifier {SYSTEM}|{value}, expected 1")
    check(found[0].id == pid, f"search: found Patient/{found[0].id}, expected Patient/{pid}")
    if bundles[0].total is not None:
        check(bundles[0].total == 1, f"search: Bundle.total {bundles[0].total}")

    state["step"] = "history"
    # fhirclient has no history call of its own: its server reads the URL and
    # its Bundle model parses the answer.
    hist = fbundle.Bundle(srv.request_json(f"Patient/{pid}/_history"))
    check(hist.type == "history", f"history: Bundle.type {hist.type!r}")
    versions = [e.resource.meta.versionId for e in (hist.entry or []) if e.resource is not None]
    check(sorted(versions) == ["1", "2"], f"history: versions {versions}, expected 1 and 2")

    state["step"] = "paging"
    # A second Patient; both match the search (an OR of two identifiers),
    # one per page, so the client must follow the Bundle's next link.
    other = patient.Patient()
    other_ident = identifier.Identifier()
    other_ident.system = SYSTEM
    other_ident.value = value + "-2"
    other.identifier = [other_ident]
    other_id = patient.Patient(other.create(srv)).id
    pages = list(patient.Patient.where(struct={"identifier": f"{SYSTEM}|{value},{SYSTEM}|{value}-2", "_count": "1"}).perform_iter(srv))
    paged = sorted(e.resource.id for b in pages for e in (b.entry or []) if e.resource is not None)
    check(len(pages) >= 2, f"paging: {len(pages)} page(s) for 2 matches with _count=1")
    check(paged == sorted([pid, other_id]), f"paging: found {paged}, expected {sorted([pid, other_id])}")

    state["step"] = "delete"
    again.delete(srv)

    state["step"] = "read after delete"
    try:
        patient.Patient.read(pid, srv)
    except requests.HTTPError as e:
        status = e.response.status_code if e.response is not None else None
        check(status == 410, f"read after delete: fhirclient raised for HTTP {status}, expected 410")
    except fhirserver.FHIRNotFoundException:
        raise FlowError("read after delete: 404 Not Found, expected 410 Gone")
    else:
        raise FlowError("read after delete: the read succeeded")
    print("read after delete: 410 Gone")


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} BASE_URL", file=sys.stderr)
        return 2
    recorder = BodyRecorder()
    state = {"step": "start"}
    failures = []
    try:
        run(argv[1], recorder, state)
    except FlowError as e:
        failures.append(str(e))
    except Exception:
        failures.append(f"{state['step']}: unexpected error:\n" + traceback.format_exc())
    failures.extend(recorder.check_all())
    if failures:
        for f in failures:
            print(f"FAIL fhirclient: {f}", file=sys.stderr)
        print("exchanges:", file=sys.stderr)
        for label, _status, content in recorder.responses:
            print(f"  {label}: {content[:500]!r}", file=sys.stderr)
        return 1
    print("fhirclient flow passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
