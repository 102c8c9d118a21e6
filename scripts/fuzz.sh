#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for a bounded time each.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]     (default 300 s, all)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain
# (`rustup toolchain install nightly`): libFuzzer's sanitizer flags are
# nightly-only. Seeds come from the test data (the official R4 examples
# cached by scripts/fetch-test-data.sh, the FHIRPath test suite in
# ../shared) into a corpus OUTSIDE the repository
# ($FHIR_TEST_CACHE/fuzz-corpus/<target>), which grows across runs. A crash
# leaves its input in fuzz/artifacts/<target>/ and makes this script exit
# non-zero; fix it and keep the input as a regression test in the crate
# the bug was in.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-300}"
shift || true
targets=("$@")
if [[ ${#targets[@]} == 0 ]]; then
    targets=(json_resource xml_resource search_params fhirpath route wire_head)
fi
cache="${FHIR_TEST_CACHE:-$HOME/.cache/fhir-server-tests}"
corpus_root="$cache/fuzz-corpus"

command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo install cargo-fuzz" >&2; exit 1; }

seed() {
    local target="$1" dir="$corpus_root/$1"
    [[ -d "$dir" ]] && return
    mkdir -p "$dir"
    case "$target" in
    json_resource | xml_resource)
        local examples="$cache/hl7.fhir.r4.examples-4.0.1.tgz"
        [[ -s "$examples" ]] || bash scripts/fetch-test-data.sh
        # 300 small examples: libFuzzer works best from small, varied seeds.
        tar xzf "$examples" -C "$dir" --wildcards 'package/*.json' --transform 's,.*/,,'
        find "$dir" -type f -size +8k -delete
        find "$dir" -type f | sort | tail -n +301 | xargs -r rm -f
        if [[ "$target" == xml_resource ]]; then
            # XML seeds: the same examples turned into FHIR XML's shape
            # (value attributes, repeated elements). Rough (no narrative,
            # `url` as an element): seeds only need to be close.
            python3 - "$dir" <<'PY'
import json, os, sys, html
d = sys.argv[1]
def x(name, v, out):
    if isinstance(v, dict):
        out.append(f"<{name}>"); [x(k, w, out) for k, w in v.items() if k != "resourceType"]; out.append(f"</{name}>")
    elif isinstance(v, list):
        [x(name, w, out) for w in v]
    else:
        out.append(f'<{name} value="{html.escape(str(v).lower() if isinstance(v, bool) else str(v))}"/>')
for f in os.listdir(d):
    p = os.path.join(d, f)
    try:
        r = json.load(open(p))
        out = [f'<{r["resourceType"]} xmlns="http://hl7.org/fhir">']
        [x(k, v, out) for k, v in r.items() if k not in ("resourceType", "text")]
        out.append(f'</{r["resourceType"]}>')
        open(p[:-5] + ".xml", "w").write("".join(out))
    except Exception:
        pass
    os.remove(p)
PY
        fi
        ;;
    route)
        # A method byte, then a path: the spellings an attacker starts from.
        local i=0
        for p in /fhir/Patient/pb /%66hir/Patien%74/pb/%24meta-add /fhir/Conditio%6E/cb \
            /fhir/Patient/pb/_history/1/%24meta-delete /fhir/Patient/%24reindex \
            /fhir/Patient/pa/Observation /fhir/%2e%2e/x /fhir//Patient /.well-known/smart-configuration; do
            i=$((i + 1))
            printf '%s%s' "$(printf "\\x0$((i % 6))")" "$p" >"$dir/seed$i"
        done
        ;;
    wire_head)
        # Two split bytes, then what a client sends: raw UTF-8, keep-alive
        # with bodies (Content-Length, chunked), malformed heads.
        local i=0
        for r in 'GET /fhir/Patient?family=山田 HTTP/1.1\r\nHost: x\r\n\r\n' \
            'POST /fhir/Patient/_search?given=太郎 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /fhir/metadata HTTP/1.1\r\n\r\n' \
            'POST /fhir HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /ﾔﾏﾀﾞ HTTP/1.1\r\n\r\n' \
            'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n' 'GET /\xff\xfe HTTP/1.1\r\n\r\n' \
            'GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw'; do
            i=$((i + 1))
            printf "\\x0$i\\x00$r" >"$dir/seed$i"
        done
        ;;
    search_params)
        local i=0
        while IFS= read -r q; do
            i=$((i + 1))
            printf '%s' "$q" >"$dir/seed$i"
        done <<'Q'
Observation
code=http://loinc.org|2823-3&date=ge2020-01-01&_sort=-date&_count=10
Observation
subject:Patient.name=yamada&value-quantity=lt5.4|http://unitsofmeasure.org|mg
Patient
_has:Observation:patient:code=1234-5&gender:not=male&birthdate=sa1970
Patient
name:contains=taro,hanako&identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123&_include=Patient:organization
Observation
component-code-value-quantity=http://loinc.org|8480-6$gt100&_revinclude:iterate=Provenance:target&_total=accurate
Condition
code:below=http://snomed.info/sct|123&onset-date=ap2020-02&_content=糖尿病 OR "heart attack"&_text=diab
Encounter
subject.organization.name:exact=Clinic&date=eb2020&_lastUpdated=gt2020-01-01T00:00:00Z&_tag=a|b&_list=42
Q
        ;;
    fhirpath)
        python3 - "$dir" ../shared/tests/fhirpath/tests-fhir-r4.xml <<'PY'
import sys, xml.etree.ElementTree as ET
d, f = sys.argv[1], sys.argv[2]
for i, e in enumerate(ET.parse(f).getroot().iter("expression")):
    if e.text:
        open(f"{d}/t{i}", "w").write(e.text)
PY
        ;;
    esac
}

failed=0
for t in "${targets[@]}"; do
    seed "$t"
    echo "fuzz: $t for ${seconds}s (corpus $corpus_root/$t)"
    # -rss_limit_mb: the server's own limits are far below; -max_len keeps
    # inputs in the size a single resource or query has.
    if ! (cd fuzz && cargo +nightly fuzz run "$t" "$corpus_root/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 \
        -print_final_stats=1 2>&1 | tail -n 25); then
        failed=1
    fi
    # cargo fuzz exits non-zero on a crash; `| tail` hides that, so check
    # for the artifact too.
    if compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null || compgen -G "fuzz/artifacts/$t/oom-*" >/dev/null \
        || compgen -G "fuzz/artifacts/$t/timeout-*" >/dev/null; then
        echo "fuzz: $t found failures: $(ls fuzz/artifacts/$t)"
        failed=1
    fi
done
exit $failed
