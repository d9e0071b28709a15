// Every rendered object against the Kubernetes schemas (kubernetes-models: types, enums, required
// fields, patterns) and, because those schemas accept unknown fields, against the attribute maps of
// @kubernetes/client-node's generated models (a misspelt field anywhere in a built-in object fails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { OVERLAYS, ROOT, render, id } from './lib.mjs';

const MODELS = path.join(ROOT, 'tests/k8s/node_modules/@kubernetes/client-node/dist/gen/models');

async function modelClass(o) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  let mod;
  if (group === 'keda.sh') mod = await import(`@kubernetes-models/keda/keda.sh/${version}`);
  else if (group === 'monitoring.coreos.com') mod = await import(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`);
  else mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}`);
  return mod[o.kind];
}

// client-node model name for a top-level object: V1Deployment, V2HorizontalPodAutoscaler, ...
function clientNodeName(o) {
  const version = o.apiVersion.split('/').pop();
  return `${version[0].toUpperCase()}${version.slice(1)}${o.kind}`;
}

const typeMaps = new Map();
async function attributeMap(type) {
  if (!typeMaps.has(type)) {
    const file = path.join(MODELS, `${type}.js`);
    typeMaps.set(type, existsSync(file) ? (await import(file))[type]?.attributeTypeMap ?? null : null);
  }
  return typeMaps.get(type);
}

// Walk value against client-node type; push "path: unknown field x" problems.
async function walk(value, type, where, problems) {
  if (value === null || value === undefined) return;
  let m = type.match(/^Array<(.+)>$/);
  if (m) {
    if (!Array.isArray(value)) return problems.push(`${where}: expected a list`);
    for (let i = 0; i < value.length; ++i) await walk(value[i], m[1], `${where}[${i}]`, problems);
    return;
  }
  m = type.match(/^\{ \[key: string\]: (.+); \}$/);
  if (m) {
    for (const [k, v] of Object.entries(value)) await walk(v, m[1], `${where}.${k}`, problems);
    return;
  }
  const map = await attributeMap(type);
  if (!map) return; // string, number, IntOrString, Quantity, object, ...
  if (typeof value !== 'object' || Array.isArray(value)) return problems.push(`${where}: expected an object (${type})`);
  const fields = new Map(map.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) problems.push(`${where}: unknown field "${k}" in ${type}`);
    else await walk(v, fields.get(k), `${where}.${k}`, problems);
  }
}

for (const dir of OVERLAYS) {
  test(`${dir}: every object matches its schema`, async () => {
    const objs = render(dir);
    assert.ok(objs.length > 0);
    for (const o of objs) {
      const Model = await modelClass(o);
      assert.ok(Model, `${id(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      // kustomize wraps a Secret's base64 over lines; the API server's Go decoder skips newlines.
      const obj = o.kind === 'Secret' && o.data
        ? { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, String(v).replace(/\s/g, '')])) }
        : o;
      try {
        new Model(obj).validate();
      } catch (e) {
        assert.fail(`${dir} ${id(o)}: ${e.message}`);
      }
    }
  });

  test(`${dir}: no unknown (misspelt) fields in built-in objects`, async () => {
    const problems = [];
    let checked = 0;
    for (const o of render(dir)) {
      const name = clientNodeName(o);
      if (!(await attributeMap(name))) continue; // CRDs: kubernetes-models above
      checked++;
      await walk(o, name, id(o), problems);
    }
    assert.ok(checked > 0);
    assert.deepEqual(problems, []);
  });
}

test('the unknown-field check catches a misspelt field', async () => {
  const problems = [];
  const o = structuredClone(render('k8s/overlays/prod').find((x) => x.kind === 'StatefulSet'));
  o.spec.template.spec.containers[0].readinesProbe = o.spec.template.spec.containers[0].readinessProbe;
  o.spec.volumeClaimTemplates[0].spec.storageClass = 'fast';
  await walk(o, 'V1StatefulSet', id(o), problems);
  assert.equal(problems.length, 2, problems.join('\n'));
});

test('the schema check catches a named gRPC probe port and a bad enum', async () => {
  const o = structuredClone(render('k8s/overlays/prod').find((x) => x.kind === 'StatefulSet'));
  o.spec.template.spec.containers[0].readinessProbe.grpc.port = 'grpc';
  const Model = await modelClass(o);
  assert.throws(() => new Model(o).validate());
  const p = structuredClone(render('k8s/overlays/prod').find((x) => x.kind === 'Service'));
  p.spec.sessionAffinity = 'Sticky';
  const S = await modelClass(p);
  assert.throws(() => new S(p).validate());
});
