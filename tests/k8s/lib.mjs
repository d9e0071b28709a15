// Shared helpers of the k8s checks: render the overlays with kubectl kustomize (no cluster, no
// kubeconfig), read the servers' real flags from their sources.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// kubectl with no kubeconfig talks to localhost:8080, which is engram-api's port: point it at a file
// that does not exist. `kustomize` never needs a server.
export const KUBECTL_ENV = { ...process.env, KUBECONFIG: path.join(ROOT, 'tests/k8s/.no-kubeconfig') };

export const OVERLAYS = ['k8s/overlays/dev', 'k8s/overlays/prod', 'k8s/overlays/keda', 'k8s/jobs/restore'];

const cache = new Map();
export function render(dir) {
  if (!cache.has(dir)) {
    const out = execFileSync('kubectl', ['kustomize', path.join(ROOT, dir)], {
      env: KUBECTL_ENV, encoding: 'utf8', maxBuffer: 64 << 20,
    });
    const docs = YAML.parseAllDocuments(out).map((d) => {
      if (d.errors.length) throw new Error(`${dir}: ${d.errors[0].message}`);
      return d.toJS();
    }).filter(Boolean);
    cache.set(dir, docs);
  }
  return cache.get(dir);
}

export const id = (o) => `${o.kind}/${o.metadata?.namespace ?? '-'}/${o.metadata?.name}`;

// The pod template of a workload (Deployment, StatefulSet, Job, CronJob), or null.
export function podTemplate(o) {
  switch (o.kind) {
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': case 'Job': return o.spec.template;
    case 'CronJob': return o.spec.jobTemplate.spec.template;
    default: return null;
  }
}

export function matches(selector, labels) {
  if (!selector) return false;
  const ml = selector.matchLabels ?? {};
  for (const [k, v] of Object.entries(ml)) if (labels?.[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = labels && Object.hasOwn(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

// ---- the servers' flags, read from their sources ------------------------------------------------

// Image name (last path segment, no tag) -> the server's main.cc and its gRPC health service name.
export const SERVERS = {
  'engram-storage': { main: 'storage-server/main.cc', health: 'engram.storage.v1.Storage' },
  'engram-hybrid': { main: 'services/hybrid/main.cc', health: 'engram.hybrid.v1.Hybrid' },
  'engram-api': { main: 'services/api/main.cc', health: 'engram.v1.Engram' },
  'engram-control': { main: 'services/control/main.cc', health: null },
};
// Flags every absl binary has (absl/flags/parse.cc, absl/flags/internal/usage.cc).
const ABSL_BUILTIN = ['flagfile', 'fromenv', 'tryfromenv', 'undefok', 'help', 'helpfull', 'helpshort',
  'helppackage', 'version', 'only_check_args', 'helpon', 'helpmatch'];

function abslFlags(text) {
  const flags = new Map();
  const re = /ABSL_FLAG\(\s*([\w:<> ]+?)\s*,\s*(\w+)\s*,\s*([^,]+?)\s*,/g;
  for (const m of text.matchAll(re)) flags.set(m[2], { type: m[1], def: m[3] });
  return flags;
}

// { flags: Map(name -> {type, def}), grpcPort, httpPort, source } for one server image.
export function serverFlags(image) {
  const server = SERVERS[image];
  if (!server) return null;
  const main = path.join(ROOT, server.main);
  if (!existsSync(main)) {
    // engram-control is being written: fall back to its documented flags (docs/control.md).
    const doc = readFileSync(path.join(ROOT, 'docs/control.md'), 'utf8');
    const flags = new Map();
    for (const m of doc.matchAll(/^\| `--(\w+)` \| ([^|]*) \|/gm)) flags.set(m[1], { type: '?', def: m[2].trim() });
    for (const b of ['drain_seconds', 'log_format', 'log_level']) flags.set(b, { type: '?', def: '' });
    for (const b of ABSL_BUILTIN) flags.set(b, { type: 'builtin', def: '' });
    return { flags, grpcPort: null, httpPort: Number(flags.get('http_port')?.def), source: 'docs/control.md' };
  }
  const text = readFileSync(main, 'utf8');
  const flags = abslFlags(text);
  let grpcPort = null;
  let httpPort = null;
  const hostHeader = path.join(ROOT, 'common/service/host_flags.h');
  const host = text.match(/ENGRAM_HOST_FLAGS\(\s*(?:\/\*\w+=\*\/)?(\d+)\s*,\s*(?:\/\*\w+=\*\/)?(\d+)/);
  const httpOnly = text.match(/ENGRAM_HTTP_HOST_FLAGS\(\s*(?:\/\*\w+=\*\/)?(\d+)/);
  if ((host || httpOnly) && existsSync(hostHeader)) {
    const h = readFileSync(hostHeader, 'utf8').replace(/\\\n/g, '\n');
    // The macro bodies: every ABSL_FLAG in the header, minus grpc-only ones for HTTP-only servers.
    const hf = abslFlags(h);
    for (const [k, v] of hf) {
      if (httpOnly && !host && (k === 'grpc_port' || k === 'max_connection_age_s')) continue;
      flags.set(k, v);
    }
    if (host) { grpcPort = Number(host[1]); httpPort = Number(host[2]); }
    else { httpPort = Number(httpOnly[1]); flags.delete('grpc_port'); }
  }
  if (flags.has('grpc_port') && grpcPort === null) grpcPort = Number(flags.get('grpc_port').def);
  if (flags.has('http_port') && httpPort === null) httpPort = Number(flags.get('http_port').def);
  for (const b of ABSL_BUILTIN) flags.set(b, { type: 'builtin', def: '' });
  return { flags, grpcPort, httpPort, source: server.main };
}

export function imageName(image) {
  return image.split('/').pop().split('@')[0].split(':')[0];
}

// "--a=b" / "--a b" / "--noa" list -> [[name, value]] in order.
export function parseArgs(args) {
  const out = [];
  for (let i = 0; i < args.length; ++i) {
    const a = String(args[i]);
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out.push([a.slice(2, eq), a.slice(eq + 1)]);
    else out.push([a.slice(2), 'true']);
  }
  return out;
}
export function flagfileLines(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}
