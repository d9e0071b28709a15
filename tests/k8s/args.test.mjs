// The servers started with the exact arguments and flag files of the rendered prod overlay (only
// ports, the listen address, file paths and Service names are mapped to this machine): absl refuses
// unknown or malformed flags at startup, so this proves every server accepts its manifest; the suite
// wired as the manifests wire it becomes ready (/readyz 200 everywhere), every startup, readiness and
// liveness probe of the manifests passes against the real servers, and all drain on SIGTERM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { ROOT, render, podTemplate, imageName } from './lib.mjs';

const healthPkg = protoLoader.loadSync(path.join(ROOT, 'common/grpc/proto/grpc/health/v1/health.proto'), { enums: String });
const { Health } = grpc.loadPackageDefinition(healthPkg).grpc.health.v1;
function grpcHealth(port, service) {
  return new Promise((resolve) => {
    const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    client.Check({ service }, { deadline: Date.now() + 3000 }, (err, res) => {
      client.close();
      resolve(err ? `error ${err.code}` : res.status);
    });
  });
}
async function httpStatus(port, p) {
  try { return (await fetch(`http://127.0.0.1:${port}${p}`)).status; } catch (e) { return `error ${e.cause?.code ?? e.message}`; }
}

const BUILD = process.env.ENGRAM_BUILD_DIR ?? path.join(ROOT, 'build');
const BINS = {
  'engram-storage': path.join(BUILD, 'storage-server/engram-storage'),
  'engram-hybrid': path.join(BUILD, 'services/hybrid/engram-hybrid'),
  'engram-api': path.join(BUILD, 'services/api/engram-api'),
  'engram-control': path.join(BUILD, 'services/control/engram-control'),
};
const missing = Object.values(BINS).filter((b) => !existsSync(b));
if (missing.length && process.env.ENGRAM_BUILD_DIR) throw new Error(`not built: ${missing.join(', ')}`);
const skip = missing.length ? `not built: ${missing.join(', ')}` : false;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'engram-k8s-args-'));
const children = [];
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (!process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

test('every server starts with its prod manifest arguments and the suite becomes ready', { skip, timeout: 120000 }, async () => {
  const objs = render('k8s/overlays/prod');
  const dev = render('k8s/overlays/dev');
  const containers = {};
  for (const w of objs) {
    const t = podTemplate(w);
    if (!t) continue;
    for (const c of t.spec.containers) if (BINS[imageName(c.image)]) containers[imageName(c.image)] = { c, spec: t.spec };
  }
  // Ports: every Service port of the manifests gets a free local port (same number everywhere).
  const portMap = new Map();
  for (const svc of objs.filter((o) => o.kind === 'Service')) {
    for (const p of svc.spec.ports) if (!portMap.has(p.port)) portMap.set(p.port, await freePort());
  }
  // Files: ConfigMap flag files and the dev overlay's API keys file, written where the args say.
  const files = new Map();
  const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('engram-flags'));
  for (const [k, v] of Object.entries(cm.data)) files.set(`/etc/engram/flags/${k}`, v);
  const keys = dev.find((o) => o.kind === 'Secret' && o.metadata.name === 'engram-api-keys');
  files.set('/etc/engram/keys/api-keys.json', Buffer.from(keys.data['api-keys.json'].replace(/\s/g, ''), 'base64').toString());
  const local = (p) => path.join(tmp, p);
  for (const [p, content] of files) { mkdirSync(path.dirname(local(p)), { recursive: true }); writeFileSync(local(p), content); }
  const mapArg = (a) => {
    let [flag, value] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (value === undefined) return a;
    if (flag === '--listen_address') value = '127.0.0.1';
    else if (/_port$/.test(flag)) value = String(portMap.get(Number(value)) ?? value);
    else if (/_addr$/.test(flag)) value = value.replace(/([a-z0-9-]+):(\d+)$/, (_, host, port) => `127.0.0.1:${portMap.get(Number(port))}`);
    else if (/^--(flagfile|api_keys_file)$/.test(flag)) value = local(value);
    else if (/^--(data_dir|snapshot_dir|model_dir)$/.test(flag)) { value = local(value); mkdirSync(value, { recursive: true }); }
    return `${flag}=${value}`;
  };
  const started = [];
  for (const name of ['engram-storage', 'engram-hybrid', 'engram-api', 'engram-control']) {
    const { c } = containers[name];
    const args = c.args.map(mapArg);
    const http = Number(args.find((a) => a.startsWith('--http_port=')).split('=')[1]);
    const child = spawn(BINS[name], args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    children.push(child);
    started.push({ name, child, http, stderr: () => stderr, args });
  }
  const deadline = Date.now() + 60000;
  for (const s of started) {
    let status = 0;
    while (Date.now() < deadline && s.child.exitCode === null) {
      try { status = (await fetch(`http://127.0.0.1:${s.http}/readyz`)).status; } catch { status = 0; }
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200, `${s.name} ${s.args.join(' ')}\nexit ${s.child.exitCode}: ${s.stderr().slice(-3000)}`);
  }
  // Every probe of every container, as the kubelet would run it (ports mapped like the args).
  for (const s of started) {
    const { c } = containers[s.name];
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const p = c[kind];
      const port = portMap.get(p.grpc?.port ?? p.httpGet?.port);
      if (p.grpc) assert.equal(await grpcHealth(port, p.grpc.service ?? ''), 'SERVING', `${s.name} ${kind}`);
      else assert.equal(await httpStatus(port, p.httpGet.path), 200, `${s.name} ${kind} ${p.httpGet.path}`);
    }
  }
  for (const s of [...started].reverse()) {
    const exited = new Promise((r) => s.child.on('exit', (code) => r(code)));
    s.child.kill('SIGTERM');
    assert.equal(await exited, 0, `${s.name} after SIGTERM: ${s.stderr().slice(-2000)}`);
  }
});
