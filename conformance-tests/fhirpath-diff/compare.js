// Evaluates the search-parameter expressions of a job file with the HL7
// reference engine (npm `fhirpath`, R4 model) and compares each result with
// ours. Run by tests/fhirpath_differential.rs:
//   node compare.js JOB.json OUT.json
// JOB: {exprs: [{id, expr}], resources: [json], cases: [[e, r, ours]]}
// where ours is [{type, value}] or {error}. OUT: {cases, agree, disagreements}.
'use strict';
const fs = require('fs');
const fhirpath = require('fhirpath');
const model = require('fhirpath/fhir-context/r4');
const path = require('path');
// Not exported; reached by path to build typed nodes for resolve().
const { ResourceNode } = require(path.join(path.dirname(require.resolve('fhirpath')), 'types.js'));

const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));

// Canonical text: object keys sorted, numbers as JS numbers.
function canon(v) {
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map(k => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

function normalize(list) {
  return list.map(canon).sort();
}

// fhirpath.js only resolves references asynchronously, over HTTP. For the
// comparison, resolve() is replaced by a synchronous one with the engine's
// rules for search indexing (Context::with_reference_types): a contained
// resource (#id), an entry of the Bundle being evaluated (fullUrl or
// Type/id), else an empty resource of the referenced type.
let current = null;
function resolveOne(ctx, r) {
  const ref = typeof r === 'string' ? r : r && r.reference;
  if (!ref) return undefined;
  if (ref.startsWith('#')) {
    const c = (current.contained || []).find(x => x.id === ref.slice(1));
    return c ? ResourceNode.makeResNode(ctx, c, null, null) : undefined;
  }
  if (current.resourceType === 'Bundle') {
    for (const e of current.entry || []) {
      const res = e.resource;
      if (!res) continue;
      const local = res.resourceType + '/' + res.id;
      if (e.fullUrl === ref || ref === local || ref.endsWith('/' + local)) {
        return ResourceNode.makeResNode(ctx, res, null, null);
      }
    }
  }
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/[^/]+(?:\/_history\/[^/]+)?$/.exec(ref.split(/[?#]/)[0]);
  return m ? ResourceNode.makeResNode(ctx, { resourceType: m[1] }, null, null) : undefined;
}
const userInvocationTable = {
  resolve: {
    fn: function (inputs) { return inputs.map(r => resolveOne(this, r)).filter(x => x); },
    arity: { 0: [] },
  },
};

const compiled = job.exprs.map(({ expr }) => {
  try {
    return fhirpath.compile(expr, model, { resolveInternalTypes: true, userInvocationTable });
  } catch (e) {
    return { error: String(e.message || e) };
  }
});

const disagreements = [];
let agree = 0;
for (const [e, r, ours] of job.cases) {
  const res = job.resources[r];
  current = res;
  let theirs;
  const c = compiled[e];
  if (c.error) {
    theirs = { error: c.error };
  } else {
    try {
      const out = c(res, { resource: res, rootResource: res });
      theirs = out;
    } catch (err) {
      theirs = { error: String(err.message || err) };
    }
  }
  const oursErr = ours && !Array.isArray(ours);
  const theirsErr = theirs && !Array.isArray(theirs);
  let same;
  if (oursErr || theirsErr) {
    same = oursErr && theirsErr;
  } else {
    const a = normalize(ours.map(x => x.value));
    const b = normalize(theirs);
    same = a.length === b.length && a.every((x, i) => x === b[i]);
  }
  if (same) {
    agree++;
  } else {
    disagreements.push({
      sp: job.exprs[e].id,
      expr: job.exprs[e].expr,
      resource: (res.resourceType || '') + '/' + (res.id || ''),
      ours: oursErr ? ours : ours.map(x => x.value),
      theirs,
    });
  }
}
fs.writeFileSync(outPath, JSON.stringify({ cases: job.cases.length, agree, disagreements }, null, 1));
