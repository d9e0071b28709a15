// The snapshot export of the CronJob, for real: a real engram-storage with data, the CronJob's own
// script (k8s/base/snapshot/engram-snapshot.sh) exporting to a local S3 endpoint (s3rver) with rclone,
// retention in object storage and on the server, then the restore procedure (download, verify,
// restore into a fresh engram-storage) and a comparison of stats and query answers. A tampered
// archive is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import S3rver from 's3rver';
import { ROOT } from './lib.mjs';

const STORAGE = process.env.ENGRAM_STORAGE_BIN ?? path.join(ROOT, 'build/storage-server/engram-storage');
const ENGRAMCTL = process.env.ENGRAMCTL_BIN ?? path.join(ROOT, 'build/cli/engramctl/engramctl');
const SCRIPT = path.join(ROOT, 'k8s/base/snapshot/engram-snapshot.sh');
const missing = [STORAGE, ENGRAMCTL].filter((f) => !existsSync(f));
// Under ctest the binaries are named explicitly (ENGRAM_STORAGE_BIN): missing ones fail the test.
if (missing.length && process.env.ENGRAM_STORAGE_BIN) throw new Error(`not built: ${missing.join(', ')}`);
const skip = missing.length ? `not built: ${missing.join(', ')}` : false;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'engram-snapshot-export-'));
const children = [];
let s3;
let s3port;

const pkg = protoLoader.loadSync(path.join(ROOT, 'proto/engram/storage/v1/storage.proto'), {
  includeDirs: [path.join(ROOT, 'proto')], keepCase: true, longs: String, enums: String, defaults: true,
});
const { Storage } = grpc.loadPackageDefinition(pkg).engram.storage.v1;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

async function startStorage(name) {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const log = path.join(tmp, `${name}.log`);
  const child = spawn(STORAGE, [`--data_dir=${dir}/data`, `--snapshot_dir=${dir}/snapshots`, '--listen_address=127.0.0.1',
    `--grpc_port=${grpcPort}`, `--http_port=${httpPort}`, '--drain_seconds=1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.on('exit', () => writeFileSync(log, stderr));
  children.push(child);
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      if (r.status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`${name} not ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const client = new Storage(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const call = (method, req) => new Promise((resolve, reject) => {
    client[method](req, { deadline: Date.now() + 20000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  return { addr: `127.0.0.1:${grpcPort}`, call, client, child };
}

// The same environment the CronJob gives the script, with rclone's remote "backup" on s3rver.
function scriptEnv(storageAddr, extra = {}) {
  const env = {
    ...process.env,
    ENGRAM_STORAGE_ADDR: storageAddr,
    ENGRAM_BACKUP_REMOTE: 'backup:engram-backups/test',
    ENGRAM_BACKUP_RETENTION: '2',
    ENGRAM_SERVER_SNAPSHOTS_KEEP: '1',
    ENGRAM_WORK_DIR: path.join(tmp, 'work'),
    ENGRAMCTL,
    HOME: tmp,
    RCLONE_CONFIG_BACKUP_TYPE: 's3',
    RCLONE_CONFIG_BACKUP_PROVIDER: 'Other',
    RCLONE_CONFIG_BACKUP_ENDPOINT: `http://127.0.0.1:${s3port}`,
    RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID: 'S3RVER',
    RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY: 'S3RVER',
    ...extra,
  };
  delete env.AWS_CA_BUNDLE; // a proxy's CA bundle on some machines; rclone's S3 client refuses it for http
  return env;
}
// Asynchronous on purpose: s3rver runs in this process, so a blocking spawnSync would deadlock it.
function run(cmd, args, env, timeout = 120000) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { err += `\n(timed out after ${timeout} ms)`; child.kill('SIGKILL'); }, timeout);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out: out.trim(), err }); });
  });
}
const runScript = (args, env) => run('/bin/sh', [SCRIPT, ...args], env);
async function rclone(args, env) {
  const r = await run('rclone', args, env, 60000);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

const DIM = 8;
const vec = (i) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 0.37 + j * 1.3) + (j === i % DIM ? 1 : 0));
const TYPES = ['SEMANTIC', 'CAUSAL', 'TEMPORAL', 'HIERARCHICAL', 'COMPOSITIONAL'];

async function load(s, from, to) {
  const concepts = [];
  for (let i = from; i < to; ++i) {
    concepts.push({ id: `c${i}`, content: `concept number ${i}`, vector: vec(i), attributes: { group: `g${i % 5}` } });
  }
  await s.call('PutConcepts', { namespace: 'kb', concepts });
  const associations = [];
  for (let i = Math.max(from, 1); i < to; ++i) {
    associations.push({ source: `c${i - 1}`, target: `c${i}`, type: TYPES[i % 5], confidence: 0.5 + (i % 5) / 10, weight: i });
    if (i % 7 === 0) associations.push({ source: `c${i}`, target: `c${i % 11}`, type: 'SEMANTIC', confidence: 0.9 });
  }
  await s.call('PutAssociations', { namespace: 'kb', associations });
}

// Everything a client can observe that a restore must reproduce.
async function observe(s) {
  const stats = await s.call('GetStats', {});
  const { namespaces } = await s.call('ListNamespaces', {});
  const q = vec(42).map((x, j) => x + (j % 2 ? 0.1 : -0.1));
  const approx = await s.call('Search', { namespace: 'kb', vector: q, k: 10 });
  const exact = await s.call('Search', { namespace: 'kb', vector: q, k: 10, exact: true, filter: { group: 'g2' } });
  const neighbors = await s.call('Neighbors', { namespace: 'kb', id: 'c14', direction: 'BOTH', limit: 50 });
  const got = await s.call('GetConcepts', { namespace: 'kb', ids: ['c0', 'c77', 'c199', 'nope'], include_vector: true });
  const strip = (c) => ({ id: c.id, content: c.content, attributes: c.attributes, vector: c.vector, strength: c.strength, confidence: c.confidence, create_time: c.create_time });
  return {
    stats: { namespaces: stats.namespaces, concepts: stats.concepts, associations: stats.associations, vectors: stats.vectors },
    namespaces: namespaces.map((n) => ({ name: n.config.name, dim: n.config.dimension, metric: n.config.metric, concepts: n.concept_count, associations: n.association_count, vectors: n.vector_count }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    approx: approx.results.map((r) => [r.node.id, r.score]),
    exact: exact.results.map((r) => [r.node.id, r.score]),
    neighbors: neighbors.neighbors.map((n) => [n.node.id, n.association.type, n.association.confidence, n.direction]),
    concepts: got.concepts.map(strip),
    missing: got.missing_ids,
  };
}

before(async () => {
  if (skip) return;
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(tmp, 's3'), configureBuckets: [{ name: 'engram-backups' }] });
  ({ port: s3port } = await s3.run());
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null)));
  if (s3) await s3.close();
  if (!process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
});

test('export with retention, download + verify, restore into a fresh engram-storage: same stats and answers', { skip, timeout: 240000 }, async () => {
  const a = await startStorage('source');
  await a.call('CreateNamespace', { config: { name: 'kb', dimension: DIM, metric: 'COSINE', embedder: 'none' } });
  await a.call('CreateNamespace', { config: { name: 'empty-one', dimension: 4, metric: 'L2', embedder: 'none' } });
  const env = scriptEnv(a.addr);

  // Three scheduled runs, with writes in between (retention 2 remote, 1 on the server).
  const names = [];
  for (const [from, to] of [[0, 80], [80, 160], [160, 200]]) {
    await load(a, from, to);
    const r = await runScript(['export'], env);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^snap-\S+$/);
    names.push(r.out);
  }
  assert.equal(new Set(names).size, 3);
  const before = await observe(a);
  // The comparison below is only as good as what it compares: make sure every part holds something.
  assert.equal(before.stats.concepts, '200');
  assert.ok(Number(before.stats.associations) > 200, before.stats.associations);
  assert.deepEqual(before.namespaces.map((n) => n.name), ['default', 'empty-one', 'kb']);
  assert.equal(before.approx.length, 10);
  assert.ok(before.exact.length === 10 && before.exact.every(([cid]) => Number(cid.slice(1)) % 5 === 2), 'filtered exact search');
  assert.ok(before.neighbors.length >= 2, JSON.stringify(before.neighbors));
  assert.equal(before.concepts.length, 3);
  assert.equal(before.concepts[1].vector.length, DIM);
  assert.deepEqual(before.missing, ['nope']);

  const listed = await runScript(['list'], env);
  assert.equal(listed.code, 0, listed.err);
  assert.deepEqual(listed.out.split('\n'), names.slice(1), 'object storage keeps the newest 2 archives');
  const objects = (await rclone(['lsf', '-R', 'backup:engram-backups/test'], env)).split('\n').sort();
  assert.deepEqual(objects, names.slice(1).flatMap((n) => [`${n}.tar`, `${n}.tar.sha256`]).sort());
  const onServer = await run(ENGRAMCTL, ['--storage_addr', a.addr, 'snapshot', 'list'], process.env);
  assert.equal(onServer.code, 0, onServer.err);
  assert.deepEqual(onServer.out.split('\n').map((l) => l.match(/snap-\S+/)?.[0]).filter(Boolean), [names[2]], 'the server keeps 1 snapshot');

  // Restore (the restore Job's command) into a fresh, empty engram-storage.
  const b = await startStorage('restored');
  const restored = await runScript(['restore', 'latest'], scriptEnv(b.addr));
  assert.equal(restored.code, 0, restored.err);
  assert.match(restored.err, new RegExp(`restored ${names[2]}`));
  assert.deepEqual(await observe(b), before);

  // A second restore into the now non-empty server is refused and changes nothing.
  const again = await runScript(['restore', names[1]], scriptEnv(b.addr));
  assert.notEqual(again.code, 0);
  assert.match(again.err, /restore failed/);
  assert.deepEqual(await observe(b), before);

  // An archive that does not match its .sha256 is refused before anything reaches a server.
  const work = path.join(tmp, 'tamper');
  mkdirSync(work);
  const fetched = await runScript(['fetch', names[2]], scriptEnv(b.addr, { ENGRAM_WORK_DIR: work }));
  assert.equal(fetched.code, 0, fetched.err);
  const bytes = readFileSync(fetched.out);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path.join(work, 'snap-tampered.tar'), bytes);
  writeFileSync(path.join(work, 'snap-tampered.tar.sha256'), readFileSync(`${fetched.out}.sha256`, 'utf8').replace(names[2], 'snap-tampered'));
  await rclone(['copyto', path.join(work, 'snap-tampered.tar'), 'backup:engram-backups/test/snap-tampered.tar'], env);
  await rclone(['copyto', path.join(work, 'snap-tampered.tar.sha256'), 'backup:engram-backups/test/snap-tampered.tar.sha256'], env);
  const c = await startStorage('never-restored');
  const bad = await runScript(['restore', 'snap-tampered'], scriptEnv(c.addr, { ENGRAM_WORK_DIR: path.join(tmp, 'work-c') }));
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /does not match its \.sha256/);
  assert.equal((await c.call('GetStats', {})).concepts, '0');
  assert.ok(!existsSync(path.join(tmp, 'work-c', 'snap-tampered.tar')), 'the bad copy is deleted');
});

test('the script refuses to run without a destination or with a bad retention', { skip }, async () => {
  const env = scriptEnv('127.0.0.1:1');
  delete env.ENGRAM_BACKUP_REMOTE;
  let r = await runScript(['export'], env);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /ENGRAM_BACKUP_REMOTE is not set/);
  r = await runScript(['export'], scriptEnv('127.0.0.1:1', { ENGRAM_BACKUP_RETENTION: 'ten' }));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /whole number/);
  r = await runScript(['bogus'], env);
  assert.equal(r.code, 2);
});
