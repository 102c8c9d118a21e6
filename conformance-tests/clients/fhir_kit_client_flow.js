// Drives the server with the npm package `fhir-kit-client`: create, read,
// update, search by identifier, history, delete, and a read after the
// delete that must fail with 410 Gone.
//
//   node fhir_kit_client_flow.js BASE_URL BODIES.json
//
// Every response body the client received is written to BODIES.json
// (`[{"label": ..., "body": ...}]`) for validate_bodies.py to parse with
// `fhir.resources`. The package is loaded from FHIR_KIT_CLIENT_MODULES (a
// node_modules folder), by default the one scripts/fetch-test-data.sh
// installs: $FHIR_TEST_CACHE/fhir-kit-client-js/node_modules.
//
// Exits 0 when every step passed; otherwise prints which step failed and
// why and exits 1. CommonJS on purpose: fhir-kit-client 2 is an ES module
// only, and a dynamic import() by file URL works whatever the folder.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const SYSTEM = 'urn:test:fhir-kit-client';

class FlowError extends Error {}

function check(cond, msg) {
  if (!cond) throw new FlowError(msg);
}

function modulesDir() {
  if (process.env.FHIR_KIT_CLIENT_MODULES) return process.env.FHIR_KIT_CLIENT_MODULES;
  const cache =
    process.env.FHIR_TEST_CACHE || path.join(os.homedir(), '.cache', 'fhir-server-tests');
  return path.join(cache, 'fhir-kit-client-js', 'node_modules');
}

async function loadClient() {
  const pkgDir = path.join(modulesDir(), 'fhir-kit-client');
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const exp = pkg.exports && pkg.exports['.'];
  const entry = (exp && (exp.import || exp.default)) || pkg.module || pkg.main;
  const mod = await import(pathToFileURL(path.join(pkgDir, entry)).href);
  return { Client: mod.Client || (mod.default && mod.default.Client), version: pkg.version };
}

async function run(base, bodies, state) {
  const { Client, version } = await loadClient();
  console.log(`fhir-kit-client ${version}`);
  const client = new Client({ baseUrl: base });
  const value = crypto.randomUUID().replace(/-/g, '');

  // Calls the client and keeps the body it returns (or the error's body).
  async function call(label, fn) {
    try {
      const result = await fn();
      if (result && typeof result === 'object' && Object.keys(result).length > 0) {
        bodies.push({ label, body: result });
      }
      return result;
    } catch (e) {
      const data = e && e.response && e.response.data;
      if (data && (typeof data !== 'object' || Object.keys(data).length > 0)) {
        bodies.push({ label: `${label} (error ${e.response.status})`, body: data });
      }
      throw e;
    }
  }

  state.step = 'create';
  const created = await call('create', () =>
    client.create({
      resourceType: 'Patient',
      body: {
        resourceType: 'Patient',
        identifier: [{ system: SYSTEM, value }],
        name: [{ family: 'FhirKit', given: ['Created'] }],
        active: true,
      },
    }),
  );
  const id = created && created.id;
  check(id, `create: the answer has no id: ${JSON.stringify(created)}`);
  check(created.meta && created.meta.versionId === '1', `create: meta.versionId ${JSON.stringify(created.meta)}`);
  console.log(`create: Patient/${id}`);

  state.step = 'read';
  const read = await call('read', () => client.read({ resourceType: 'Patient', id }));
  check(read.id === id, `read: id ${read.id} != ${id}`);
  check(read.identifier && read.identifier[0].value === value, 'read: identifier lost');
  check(read.name[0].family === 'FhirKit', `read: family ${read.name[0].family}`);

  state.step = 'update';
  const body = { ...read, name: [{ family: 'Updated', given: ['Created'] }] };
  const updated = await call('update', () => client.update({ resourceType: 'Patient', id, body }));
  check(updated.id === id, `update: id ${updated.id} != ${id}`);
  check(updated.meta && updated.meta.versionId === '2', `update: meta.versionId ${JSON.stringify(updated.meta)}`);
  const again = await call('read after update', () => client.read({ resourceType: 'Patient', id }));
  check(again.name[0].family === 'Updated', `read after update: family ${again.name[0].family}`);

  state.step = 'search';
  const bundle = await call('search', () =>
    client.search({ resourceType: 'Patient', searchParams: { identifier: `${SYSTEM}|${value}` } }),
  );
  check(bundle.resourceType === 'Bundle' && bundle.type === 'searchset', `search: ${bundle.resourceType} of type ${bundle.type}`);
  const matches = (bundle.entry || []).filter(
    (e) => e.resource && e.resource.resourceType === 'Patient' && (!e.search || e.search.mode !== 'include'),
  );
  check(matches.length === 1, `search: ${matches.length} Patients match identifier ${SYSTEM}|${value}, expected 1`);
  check(matches[0].resource.id === id, `search: found Patient/${matches[0].resource.id}, expected Patient/${id}`);
  if (bundle.total !== undefined) check(bundle.total === 1, `search: Bundle.total ${bundle.total}`);
  // the pager must agree: no next page
  const next = await call('search next page', () => client.nextPage({ bundle }));
  check(next === undefined, `search: nextPage gave a page: ${JSON.stringify(next)}`);

  state.step = 'history';
  const hist = await call('history', () => client.history({ resourceType: 'Patient', id }));
  check(hist.resourceType === 'Bundle' && hist.type === 'history', `history: ${hist.resourceType} of type ${hist.type}`);
  const versions = (hist.entry || []).filter((e) => e.resource).map((e) => e.resource.meta.versionId);
  check(JSON.stringify([...versions].sort()) === '["1","2"]', `history: versions ${JSON.stringify(versions)}, expected 1 and 2`);

  state.step = 'paging';
  // A second Patient; both match the search (an OR of two identifiers),
  // one per page, so the client must follow the Bundle's next link.
  const other = await call('create second', () =>
    client.create({
      resourceType: 'Patient',
      body: { resourceType: 'Patient', identifier: [{ system: SYSTEM, value: `${value}-2` }] },
    }),
  );
  const pagedIds = [];
  let page = await call('paging page 1', () =>
    client.search({ resourceType: 'Patient', searchParams: { identifier: `${SYSTEM}|${value},${SYSTEM}|${value}-2`, _count: 1 } }),
  );
  let pageCount = 0;
  while (page) {
    pageCount += 1;
    check(pageCount <= 10, 'paging: more than 10 pages for 2 matches: the next links loop');
    for (const e of page.entry || []) if (e.resource) pagedIds.push(e.resource.id);
    const current = page;
    page = await call(`paging page ${pageCount + 1}`, () => client.nextPage({ bundle: current }));
  }
  check(pageCount >= 2, `paging: ${pageCount} page(s) for 2 matches with _count=1`);
  check(
    JSON.stringify(pagedIds.sort()) === JSON.stringify([id, other.id].sort()),
    `paging: found ${JSON.stringify(pagedIds)}, expected ${id} and ${other.id}`,
  );

  state.step = 'delete';
  await call('delete', () => client.delete({ resourceType: 'Patient', id }));

  state.step = 'read after delete';
  let status;
  try {
    await call('read after delete', () => client.read({ resourceType: 'Patient', id }));
  } catch (e) {
    if (!(e && e.response)) throw e;
    status = e.response.status;
  }
  check(status !== undefined, 'read after delete: the read succeeded');
  check(status === 410, `read after delete: HTTP ${status}, expected 410 Gone`);
  console.log('read after delete: 410 Gone');
}

async function main() {
  const [base, out] = process.argv.slice(2);
  if (!base || !out) {
    console.error('usage: node fhir_kit_client_flow.js BASE_URL BODIES.json');
    return 2;
  }
  const bodies = [];
  const state = { step: 'start' };
  let failed = false;
  try {
    await run(base, bodies, state);
  } catch (e) {
    failed = true;
    if (e instanceof FlowError) {
      console.error(`FAIL fhir-kit-client: ${e.message}`);
    } else {
      const detail = e && e.response ? ` (HTTP ${e.response.status}: ${JSON.stringify(e.response.data)})` : '';
      console.error(`FAIL fhir-kit-client: ${state.step}: unexpected error${detail}:\n${e && e.stack}`);
    }
  }
  fs.writeFileSync(out, JSON.stringify(bodies, null, 1));
  console.log(`${bodies.length} response bodies written to ${out}`);
  if (failed) return 1;
  console.log('fhir-kit-client flow passed');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`FAIL fhir-kit-client: ${e && e.stack}`);
    process.exit(1);
  },
);
