"""Drives the server with the PyPI package `fhirpy` (its synchronous
client): create, read, update, search by identifier, history, delete, and a
read after the delete that must fail with 410 Gone. Every response body is
also parsed with `fhir.resources` (validate_bodies.py).

    python fhirpy_flow.py http://127.0.0.1:PORT/fhir

Exits 0 when every step passed; otherwise prints which step failed and why
and exits 1.
"""

import sys
import traceback
import uuid

from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from validate_bodies import BodyRecorder

SYSTEM = "urn:test:fhirpy"


class FlowError(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise FlowError(msg)


def run(base, recorder, state):
    # fhirpy calls requests.request(..., **requests_config): the hook sees
    # every response.
    client = SyncFHIRClient(base, requests_config={"hooks": {"response": [recorder]}})
    value = uuid.uuid4().hex

    state["step"] = "create"
    p = client.resource(
        "Patient",
        identifier=[{"system": SYSTEM, "value": value}],
        name=[{"family": "Fhirpy", "given": ["Created"]}],
        active=True,
    )
    p.save()
    pid = p.id
    check(pid, "create: the saved Patient has no id")
    check(p.get_by_path(["meta", "versionId"]) == "1", f"create: meta.versionId {p.get_by_path(['meta', 'versionId'])!r}, expected '1'")
    print(f"create: Patient/{pid}")

    state["step"] = "read"
    read = client.reference("Patient", pid).to_resource()
    check(read.id == pid, f"read: id {read.id!r} != {pid!r}")
    check(read["identifier"][0]["value"] == value, "read: identifier lost")
    check(read["name"][0]["family"] == "Fhirpy", f"read: family {read['name'][0]['family']!r}")

    state["step"] = "update"
    read["name"][0]["family"] = "Updated"
    read.save()
    check(read.id == pid, f"update: id {read.id!r} != {pid!r}")
    check(read["meta"]["versionId"] == "2", f"update: meta.versionId {read['meta']['versionId']!r}, expected '2'")
    again = client.reference("Patient", pid).to_resource()
    check(again["name"][0]["family"] == "Updated", f"read after update: family {again['name'][0]['family']!r}")

    state["step"] = "search"
    found = client.resources("Patient").search(identifier=f"{SYSTEM}|{value}").fetch_all()
    check(len(found) == 1, f"search: {len(found)} Patients match identifier {SYSTEM}|{value}, expected 1")
    check(found[0].id == pid, f"search: found Patient/{found[0].id}, expected Patient/{pid}")
    count = client.resources("Patient").search(identifier=f"{SYSTEM}|{value}").count()
    check(count == 1, f"search: count() is {count}, expected 1")
    # the single-result helper fhirpy offers for searches by identifier
    one = client.resources("Patient").search(identifier=f"{SYSTEM}|{value}").get()
    check(one.id == pid, f"search .get(): Patient/{one.id}, expected Patient/{pid}")

    state["step"] = "history"
    # fhirpy has no history call of its own: a resource's execute() runs an
    # operation on its URL.
    hist = again.execute("_history", method="get")
    check(hist["resourceType"] == "Bundle" and hist["type"] == "history", f"history: {hist.get('resourceType')} of type {hist.get('type')!r}")
    versions = [e["resource"]["meta"]["versionId"] for e in hist.get("entry", []) if "resource" in e]
    check(sorted(versions) == ["1", "2"], f"history: versions {versions}, expected 1 and 2")

    state["step"] = "paging"
    # A second Patient; both match the search (an OR of two identifiers),
    # one per page, so fetch_all must follow the Bundle's next link.
    other = client.resource("Patient", identifier=[{"system": SYSTEM, "value": value + "-2"}])
    other.save()
    before = len(recorder.responses)
    paged = client.resources("Patient").search(identifier=f"{SYSTEM}|{value},{SYSTEM}|{value}-2").limit(1).fetch_all()
    paged_ids = sorted(r.id for r in paged)
    check(paged_ids == sorted([pid, other.id]), f"paging: found {paged_ids}, expected {sorted([pid, other.id])}")
    pages = [label for label, _s, _c in recorder.responses[before:]]
    check(len(pages) >= 2, f"paging: {len(pages)} page request(s) for 2 matches with _count=1: {pages}")

    state["step"] = "delete"
    again.delete()

    state["step"] = "read after delete"
    try:
        client.reference("Patient", pid).to_resource()
    except ResourceNotFound:
        # fhirpy raises ResourceNotFound for 404 and 410 alike; the status
        # comes from the response the hook saw.
        status = recorder.last_status()
        check(status == 410, f"read after delete: HTTP {status}, expected 410 Gone")
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
            print(f"FAIL fhirpy: {f}", file=sys.stderr)
        print("exchanges:", file=sys.stderr)
        for label, _status, content in recorder.responses:
            print(f"  {label}: {content[:500]!r}", file=sys.stderr)
        return 1
    print("fhirpy flow passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
