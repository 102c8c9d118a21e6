// The expected answers of the search differential test
// (tests/search_differential.rs), computed without the server: each
// search parameter's expression is evaluated over the loaded examples with
// the HL7 reference engine (npm `fhirpath`, R4 model), the values it
// selects are read the way search.html says, a few search values are
// picked from what occurs, and the ids each one must match are worked out
// here by the spec's rules:
//   token      `system|code` (Coding, CodeableConcept.coding, Identifier)
//              or a bare code (code primitives, booleans, ContactPoint
//              values, codings without a system): exact match;
//   string     the first word of a value: the folded value starts with the
//              folded word (folding: NFD, U+0300–U+036F removed, NFC,
//              lowercase, whitespace runs collapsed);
//   reference  `Type/id` of a relative reference, of a relative canonical
//              that is a whole `Type/id`, or of a resource the expression
//              selects, matching relative references (any version) and
//              such canonicals; the absolute URL of a canonical (without
//              its `|version`) or of a reference, matching exactly;
//   date       (date, dateTime, instant, Period, Timing) the UTC day (or the year/month when that is the value's
//              precision) of a value; `eq` matches when the value's whole
//              range lies within the searched range. A time without a zone
//              is UTC; a Period runs from the start of `start` to the end
//              of `end` (an open end never lies within a day); a Timing
//              stands for its outer limits (earliest event or bounds start
//              to latest event or bounds end);
//   uri        the value itself, matching exactly.
//
//   node expected.js JOB.json OUT.json
// JOB: {maxValues, params: [{id, code, type, expr, base: [..]}],
//       resources: [json]}   (the resources the server holds)
// OUT: {queries: [{sp, code, type, resourceType, value, expected: [id]}],
//       skipped: [{sp, resourceType, reason}], evaluations, errors}
'use strict';
const fs = require('fs');
const path = require('path');
const fhirpath = require('fhirpath');
const model = require('fhirpath/fhir-context/r4');
const { ResourceNode } = require(path.join(path.dirname(require.resolve('fhirpath')), 'types.js'));

const [jobPath, outPath] = process.argv.slice(2);
const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
const maxValues = job.maxValues || 3;

// resolve() without IO, as in fhirpath-diff/compare.js: a contained
// resource, an entry of the Bundle being evaluated, else an empty
// resource of the referenced type (enough for `resolve() is Patient`).
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

// ---- Reading values ----------------------------------------------------

function fold(s) {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').normalize('NFC')
    .toLowerCase().split(/\s+/).filter(w => w).join(' ');
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
// The resource types of the R4 model: the types whose ancestry reaches
// Resource (146 resources and Resource itself).
function descendsFromResource(t) {
  while (t) {
    if (t === 'Resource') return true;
    t = model.type2Parent[t];
  }
  return false;
}
const resourceTypes = new Set(Object.keys(model.type2Parent).filter(descendsFromResource));
function isResourceType(t) {
  return t !== 'Resource' && t !== 'DomainResource' && resourceTypes.has(t);
}

// A FHIR date, dateTime or instant → [lo, hi] in UTC epoch ms with the
// precision it was written to, or null.
const DT = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
function utc(y, mo, d, h, mi, s, ms) {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}
function dateRange(text) {
  if (typeof text !== 'string') return null;
  const m = DT.exec(text.trim());
  if (!m) return null;
  const y = +m[1];
  if (m[2] === undefined) return { lo: utc(y, 0, 1, 0, 0, 0, 0), hi: utc(y + 1, 0, 1, 0, 0, 0, 0) - 1, precision: 'year' };
  const mo = +m[2] - 1;
  if (mo > 11) return null;
  if (m[3] === undefined) return { lo: utc(y, mo, 1, 0, 0, 0, 0), hi: utc(y, mo + 1, 1, 0, 0, 0, 0) - 1, precision: 'month' };
  const d = +m[3];
  if (new Date(utc(y, mo, d, 0, 0, 0, 0)).getUTCDate() !== d) return null;
  if (m[4] === undefined) return { lo: utc(y, mo, d, 0, 0, 0, 0), hi: utc(y, mo, d + 1, 0, 0, 0, 0) - 1, precision: 'day' };
  let offset = 0;
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    offset = sign * (+m[8].slice(1, 3) * 60 + +m[8].slice(4, 6)) * 60000;
  }
  let width;
  let ms = 0;
  if (m[6] === undefined) {
    width = 60000;
  } else if (m[7] === undefined) {
    width = 1000;
  } else {
    const f = m[7];
    ms = Math.floor(+('0.' + f) * 1000 + 1e-9);
    width = f.length === 1 ? 100 : f.length === 2 ? 10 : 1;
  }
  const lo = utc(y, mo, d, +m[4], +m[5], m[6] === undefined ? 0 : +m[6], ms) - offset;
  return { lo, hi: lo + width - 1, precision: 'time' };
}

function pad(n, w) { return String(n).padStart(w, '0'); }
function utcDay(ms) {
  const t = new Date(ms);
  return pad(t.getUTCFullYear(), 4) + '-' + pad(t.getUTCMonth() + 1, 2) + '-' + pad(t.getUTCDate(), 2);
}

// The search value that stands for a date written as `text`: its UTC day,
// or the text itself when it is only a year or a month.
function dateQuery(text) {
  const r = dateRange(text);
  if (!r) return null;
  if (r.precision === 'year' || r.precision === 'month') return text.trim();
  return utcDay(r.lo);
}

// The typed nodes fhirpath.js returns → index entries of one kind.
// Each entry: {key (what a search value is matched against), query (a
// search value it offers, or null)}.
function typeName(node) {
  const t = fhirpath.types([node])[0] || '';
  return t.replace(/^(FHIR|System)\./, '');
}
function dataOf(node) {
  return node && typeof node === 'object' && 'data' in node ? node.data : node;
}
function escapeValue(s) {
  return s.replace(/[\\,|$]/g, c => '\\' + c);
}

function tokenEntries(node, out) {
  const ty = typeName(node);
  const v = dataOf(node);
  const coding = c => {
    if (!c || typeof c.code !== 'string') return;
    const system = typeof c.system === 'string' ? c.system : null;
    out.push({ system, code: c.code });
  };
  if (ty === 'Coding') return coding(v);
  if (ty === 'CodeableConcept') {
    for (const c of (v && v.coding) || []) coding(c);
    return;
  }
  if (ty === 'Identifier') {
    if (v && typeof v.value === 'string') {
      out.push({ system: typeof v.system === 'string' ? v.system : null, code: v.value });
    }
    return;
  }
  if (ty === 'ContactPoint') {
    if (v && typeof v.value === 'string') out.push({ system: null, code: v.value, bare: true });
    return;
  }
  if (v === null || v === undefined || typeof v === 'object') return;
  const s = String(v);
  if (s !== '') out.push({ system: null, code: s, bare: true });
}
function tokenQuery(e) {
  // A coding or identifier with a system is searched as system|code; a
  // bare code (any system) otherwise.
  if (e.system !== null && !e.bare) return escapeValue(e.system) + '|' + escapeValue(e.code);
  return escapeValue(e.code);
}
function tokenMatches(q, e) {
  if (q.system !== null && !q.bare) return e.system === q.system && e.code === q.code;
  return e.code === q.code;
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];
function stringEntries(node, out) {
  const ty = typeName(node);
  const v = dataOf(node);
  const parts = ty === 'HumanName' ? NAME_PARTS : ty === 'Address' ? ADDRESS_PARTS : null;
  const push = s => {
    if (typeof s !== 'string') return;
    const f = fold(s);
    if (f !== '') out.push({ raw: s, folded: f });
  };
  if (parts) {
    for (const p of parts) {
      const x = v && v[p];
      for (const s of Array.isArray(x) ? x : [x]) push(s);
    }
    return;
  }
  if (v === null || v === undefined || typeof v === 'object') return;
  push(String(v));
}
function stringQuery(e) {
  // The first word as written (case and accents kept: the server folds).
  let word = e.raw.trim().split(/\s+/)[0] || '';
  word = Array.from(word).slice(0, 30).join('');
  if (fold(word) === '') return null;
  return { value: escapeValue(word), prefix: fold(word) };
}

const REL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
function referenceEntries(node, out) {
  const ty = typeName(node);
  const v = dataOf(node);
  const refString = r => {
    if (typeof r !== 'string' || r === '' || r.startsWith('#')) return;
    const m = REL.exec(r);
    if (m && isResourceType(m[1])) {
      out.push({ target: m[1] + '/' + m[2] });
    } else if (r.includes('://') || r.startsWith('urn:')) {
      out.push({ url: r });
    }
  };
  if (ty === 'Reference') return refString(v && v.reference);
  if (v && typeof v === 'object' && typeof v.resourceType === 'string') {
    if (typeof v.id === 'string' && ID.test(v.id)) out.push({ target: v.resourceType + '/' + v.id });
    return;
  }
  if (typeof v !== 'string' || v === '') return;
  if (['canonical', 'uri', 'url', 'oid', 'uuid'].includes(ty)) {
    // A canonical is its URL (without `|version`); a relative one that is
    // a whole `Type/id` (`Library/l1`, common in the examples) resolves
    // against the server base like a relative reference, so it is that
    // resource too.
    const url = v.split('|')[0];
    const m = REL.exec(url);
    if (m && !m[3] && isResourceType(m[1])) {
      out.push({ url, target: m[1] + '/' + m[2] });
    } else if (!url.startsWith('#')) {
      out.push({ url });
    }
  } else {
    refString(v);
  }
}
function referenceQuery(e) {
  if (e.target) return e.target;
  // Only absolute URLs: the server reads any relative search value as a
  // `[Type/]id`.
  if (!(e.url.includes('://') || e.url.startsWith('urn:'))) return null;
  if (/[|,$\\]/.test(e.url)) return null;
  return e.url;
}
function referenceMatches(q, e) {
  return q.target ? e.target === q.target : e.url === q.url;
}

function dateEntries(node, out) {
  const ty = typeName(node);
  const v = dataOf(node);
  const push = (lo, hi, query) => out.push({ lo, hi, query });
  const period = p => {
    if (!p || (p.start === undefined && p.end === undefined)) return null;
    const s = p.start === undefined ? null : dateRange(p.start);
    const e = p.end === undefined ? null : dateRange(p.end);
    if ((p.start !== undefined && !s) || (p.end !== undefined && !e)) return null;
    return {
      lo: s ? s.lo : -Infinity,
      hi: e ? e.hi : Infinity,
      query: p.start !== undefined ? dateQuery(p.start) : dateQuery(p.end),
    };
  };
  if (ty === 'Period') {
    const r = period(v);
    if (r) push(r.lo, r.hi, r.query);
    return;
  }
  if (ty === 'Timing') {
    // The outer limits of the events and the bounds.
    const ranges = [];
    for (const ev of (v && v.event) || []) {
      const r = dateRange(ev);
      if (r) ranges.push({ lo: r.lo, hi: r.hi, query: dateQuery(ev) });
    }
    const b = v && v.repeat && v.repeat.boundsPeriod;
    if (b) {
      const r = period(b);
      if (r) ranges.push(r);
    }
    if (ranges.length) {
      push(Math.min(...ranges.map(r => r.lo)), Math.max(...ranges.map(r => r.hi)), ranges[0].query);
    }
    return;
  }
  // Only the date types: a string that looks like a date (R4's
  // CarePlan.activity.detail.scheduledString) is not one.
  if (!['date', 'dateTime', 'instant', 'Date', 'DateTime'].includes(ty) || typeof v !== 'string') return;
  const r = dateRange(v);
  if (r) push(r.lo, r.hi, dateQuery(v));
}

function uriEntries(node, out) {
  const v = dataOf(node);
  if (typeof v === 'string' && v !== '') out.push({ uri: v });
}

// ---- Per parameter -----------------------------------------------------

// FNV-1a, for a deterministic spread of the picked values.
function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const byType = new Map();
for (const r of job.resources) {
  if (!byType.has(r.resourceType)) byType.set(r.resourceType, []);
  byType.get(r.resourceType).push(r);
}
const allTypes = [...byType.keys()].sort();

const queries = [];
const skipped = [];
let evaluations = 0;
let errors = 0;
for (const p of job.params) {
  let fn;
  try {
    fn = fhirpath.compile(p.expr, model, { resolveInternalTypes: false, userInvocationTable });
  } catch (e) {
    skipped.push({ sp: p.id, resourceType: '*', reason: 'fhirpath.js cannot compile: ' + (e.message || e) });
    continue;
  }
  const all = p.base.includes('Resource') || p.base.includes('DomainResource');
  const types = all ? allTypes : p.base.filter(t => byType.has(t)).sort();
  for (const rt of types) {
    const resources = byType.get(rt) || [];
    // id → entries
    const perResource = [];
    let failed = null;
    for (const res of resources) {
      current = res;
      evaluations++;
      let nodes;
      try {
        nodes = fn(res, { resource: res, rootResource: res });
      } catch (e) {
        errors++;
        failed = res.resourceType + '/' + res.id + ': ' + String(e.message || e);
        break;
      }
      const entries = [];
      for (const n of nodes) {
        switch (p.type) {
          case 'token': tokenEntries(n, entries); break;
          case 'string': stringEntries(n, entries); break;
          case 'reference': referenceEntries(n, entries); break;
          case 'date': dateEntries(n, entries); break;
          case 'uri': uriEntries(n, entries); break;
        }
      }
      perResource.push({ id: res.id, entries });
    }
    if (failed) {
      skipped.push({ sp: p.id, resourceType: rt, reason: 'fhirpath.js fails on ' + failed });
      continue;
    }
    // The search values on offer, with how many resources have each.
    const offered = new Map();
    for (const { entries } of perResource) {
      const seen = new Set();
      for (const e of entries) {
        let q = null;
        switch (p.type) {
          case 'token': q = { value: tokenQuery(e), system: e.system, code: e.code, bare: !!e.bare || e.system === null }; break;
          case 'string': q = stringQuery(e); break;
          case 'reference': { const v = referenceQuery(e); q = v && { value: v, target: e.target, url: e.url }; break; }
          case 'date': q = e.query && { value: e.query }; break;
          case 'uri': q = /[,\\]/.test(e.uri) ? null : { value: escapeValue(e.uri), uri: e.uri }; break;
        }
        if (!q || q.value === '' || seen.has(q.value)) continue;
        seen.add(q.value);
        const o = offered.get(q.value);
        if (o) o.count++; else offered.set(q.value, { q, count: 1 });
      }
    }
    if (offered.size === 0) continue;
    // The most common value, then others in hash order.
    const list = [...offered.values()];
    list.sort((a, b) => b.count - a.count || (a.q.value < b.q.value ? -1 : a.q.value > b.q.value ? 1 : 0));
    const picked = [list[0]];
    const rest = list.slice(1).sort((a, b) => hash(a.q.value) - hash(b.q.value) || (a.q.value < b.q.value ? -1 : 1));
    for (const o of rest) {
      if (picked.length >= maxValues) break;
      picked.push(o);
    }
    for (const { q } of picked) {
      let match;
      switch (p.type) {
        case 'token': match = e => tokenMatches(q, e); break;
        case 'string': match = e => e.folded.startsWith(q.prefix); break;
        case 'reference': match = e => referenceMatches(q, e); break;
        case 'date': {
          const r = dateRange(q.value);
          match = e => e.lo >= r.lo && e.hi <= r.hi;
          break;
        }
        case 'uri': match = e => e.uri === q.uri; break;
      }
      const expected = perResource.filter(x => x.entries.some(match)).map(x => x.id).sort();
      queries.push({ sp: p.id, code: p.code, type: p.type, resourceType: rt, value: q.value, expected });
    }
  }
}
fs.writeFileSync(outPath, JSON.stringify({ queries, skipped, evaluations, errors }));
