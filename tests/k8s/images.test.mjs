// The images: deploy/build-images.sh builds each one offline (buildah FROM scratch, OCI archive,
// CycloneDX SBOM); this test reads every archive back with skopeo + umoci, checks its file list and
// config (non-root user, entrypoint, OCI labels), starts its program in a chroot of the unpacked
// root filesystem as uid 65532 (--version, then the real server on ephemeral ports: /healthz, SIGTERM
// -> exit 0) and checks the SBOM against dpkg. Needs root (chroot) and the CMake build's binaries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './lib.mjs';

const BUILD = process.env.ENGRAM_BUILD_DIR ?? path.join(ROOT, 'build');
const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root (chroot)' : (!existsSync(path.join(BUILD, 'storage-server/engram-storage')) ? `no build in ${BUILD}` : false);
const out = mkdtempSync(path.join(os.tmpdir(), 'engram-images-'));
const IMAGES = ['engram-storage', 'engram-hybrid', 'engram-api', 'engram-control', 'engram-tools'];
const ENTRY = { 'engram-storage': '/usr/local/bin/engram-storage', 'engram-hybrid': '/usr/local/bin/engram-hybrid',
  'engram-api': '/usr/local/bin/engram-api', 'engram-control': '/usr/local/bin/engram-control', 'engram-tools': '/bin/sh' };
const built = [];
const bundles = {};

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });

before(() => {
  if (skip) return;
  const only = process.env.ENGRAM_IMAGES_ONLY ? ['--only', process.env.ENGRAM_IMAGES_ONLY] : [];
  const r = spawnSync(path.join(ROOT, 'deploy/build-images.sh'), [...only, BUILD, out], { encoding: 'utf8', timeout: 900000 });
  assert.equal(r.status, 0, `build-images.sh failed:\n${r.stdout}\n${r.stderr}`);
  for (const image of IMAGES) if (existsSync(path.join(out, `${image}.oci.tar`))) built.push(image);
  // Read each archive back with the standard tools: skopeo -> OCI layout, umoci -> runtime bundle.
  for (const image of built) {
    const layout = path.join(out, `${image}.layout`);
    sh('skopeo', ['copy', '--quiet', `oci-archive:${out}/${image}.oci.tar`, `oci:${layout}:latest`]);
    bundles[image] = path.join(out, `${image}.bundle`);
    sh('umoci', ['unpack', '--image', `${layout}:latest`, bundles[image]]);
  }
});

after(() => { if (!process.env.KEEP_TMP) rmSync(out, { recursive: true, force: true }); });

test('every built image: file list, non-root config, OCI labels', { skip }, () => {
  if (!process.env.ENGRAM_IMAGES_ONLY) assert.ok(built.includes('engram-storage') && built.includes('engram-tools'), `built: ${built}`);
  else assert.deepEqual(built, [process.env.ENGRAM_IMAGES_ONLY]);
  for (const image of built) {
    const rootfs = path.join(bundles[image], 'rootfs');
    const listed = readFileSync(path.join(out, image, 'files.txt'), 'utf8').trim().split('\n');
    const actual = sh('find', ['.', '(', '-type', 'f', '-o', '-type', 'l', ')'], { cwd: rootfs }).trim().split('\n').map((f) => f.slice(1)).sort();
    assert.deepEqual(actual, [...listed].sort(), `${image}: the archive holds exactly the prepared files`);
    assert.ok(listed.includes(ENTRY[image]), `${image}: ${ENTRY[image]}`);
    for (const f of ['/etc/passwd', '/etc/group', '/etc/ssl/certs/ca-certificates.crt', '/lib64/ld-linux-x86-64.so.2']) assert.ok(listed.includes(f), `${image}: ${f}`);
    assert.match(readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), /^nonroot:x:65532:65532:/m);
    // Distroless: no shell, no package manager, nothing but the program(s), libraries and config.
    const allowed = /^\/(usr\/local\/bin\/engram[\w-]*|usr\/lib\/[\w-]+\/[^/]+\.so[.\d]*|lib(64)?\/[\w-]*\/?[^/]+\.so[.\d]*|etc\/(passwd|group|nsswitch\.conf|ssl\/certs\/ca-certificates\.crt))$/;
    if (image !== 'engram-tools') {
      for (const f of listed) assert.match(f, allowed, `${image}: unexpected file ${f}`);
      assert.ok(!listed.includes('/bin/sh'), `${image}: has a shell`);
    }
    for (const f of listed) {
      const st = sh('stat', ['-c', '%a %U', path.join(rootfs, f)]).trim().split(' ');
      assert.ok(!(parseInt(st[0], 8) & 0o6000), `${image}: ${f} is setuid/setgid`);
    }
    const config = JSON.parse(sh('skopeo', ['inspect', '--config', `oci-archive:${out}/${image}.oci.tar`]));
    assert.equal(config.config.User, '65532:65532', `${image}: runs as 65532`);
    assert.deepEqual(config.config.Entrypoint, [ENTRY[image]]);
    const labels = config.config.Labels;
    for (const l of ['title', 'description', 'version', 'revision', 'created', 'source', 'licenses']) assert.ok(labels[`org.opencontainers.image.${l}`], `${image}: label ${l}`);
    assert.equal(labels['org.opencontainers.image.title'], image);
  }
});

// The unpacked image as a container runtime would run it, minus the cgroups: its own mount and PID
// namespaces with /proc and /dev/null provided as a runtime provides them (Go programs such as rclone
// need both at start), chrooted into the image's root filesystem, as uid 65532; the network namespace
// is the host's so the test can probe the servers.
function containerArgs(image, args) {
  const rootfs = path.join(bundles[image], 'rootfs');
  mkdirSync(path.join(rootfs, 'proc'), { recursive: true });
  mkdirSync(path.join(rootfs, 'dev'), { recursive: true });
  writeFileSync(path.join(rootfs, 'dev/null'), '');
  const setup = 'mount -t proc proc "$R/proc" && mount --bind /dev/null "$R/dev/null" && exec chroot --userspec=65532:65532 "$R" "$@"';
  return ['--mount', '--pid', '--fork', 'env', `R=${rootfs}`, 'sh', '-c', setup, 'container', ...args];
}
function inImage(image, args, opts = {}) {
  return spawn('unshare', containerArgs(image, args), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
function runInImage(image, args) {
  return spawnSync('unshare', containerArgs(image, args), { encoding: 'utf8', timeout: 30000 });
}

test('every server image starts: --version, then serves /healthz and drains on SIGTERM', { skip, timeout: 180000 }, async () => {
  for (const image of built.filter((i) => i !== 'engram-tools')) {
    const v = runInImage(image, [ENTRY[image], '--version']);
    assert.equal(v.status, 0, `${image} --version: ${v.stderr}`);
    assert.ok(`${v.stdout}${v.stderr}`.trim().length > 0, `${image} --version printed nothing`);
    const rootfs = path.join(bundles[image], 'rootfs');
    const [g, h] = [await freePort(), await freePort()];
    const args = [ENTRY[image], '--listen_address=127.0.0.1', `--http_port=${h}`, '--drain_seconds=1'];
    if (image !== 'engram-control') args.push(`--grpc_port=${g}`);
    if (image === 'engram-storage') args.push('--data_dir=/tmp/data');
    if (image === 'engram-api') args.push('--auth=disabled');
    if (image === 'engram-control') {
      writeFileSync(path.join(rootfs, 'tmp/keys.json'), '{"keys":[{"name":"ops","key":"ek_image_test_key_0123456789","role":"admin","namespaces":["*"]}]}');
      chmodSync(path.join(rootfs, 'tmp/keys.json'), 0o644);
      args.push('--api_keys_file=/tmp/keys.json');
    }
    const child = inImage(image, args);
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
    const deadline = Date.now() + 30000;
    let ok = false;
    while (!ok && Date.now() < deadline && child.exitCode === null) {
      try { ok = (await fetch(`http://127.0.0.1:${h}/healthz`)).status === 200; } catch { /* starting */ }
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(ok, `${image}: /healthz never answered 200 from the chroot: ${stderr.slice(-2000)}`);
    // SIGTERM to the server itself (PID 1 of its PID namespace, the only child of unshare), as the
    // kubelet does; unshare exits with its status.
    const server = sh('pgrep', ['-P', String(child.pid)]).trim().split('\n').map(Number);
    assert.equal(server.length, 1, `${image}: one server process`);
    process.kill(server[0], 'SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0, `${image}: exit after SIGTERM: ${stderr.slice(-2000)}`);
  }
});

test('the tools image runs the snapshot script, engramctl and rclone without the host', { skip }, () => {
  if (!built.includes('engram-tools')) return;
  let r = runInImage('engram-tools', ['/bin/sh', '/opt/engram/snapshot/engram-snapshot.sh']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /usage:/);
  r = runInImage('engram-tools', ['/usr/local/bin/engramctl', 'version']);
  assert.equal(r.status, 0, r.stderr);
  r = runInImage('engram-tools', ['/usr/bin/rclone', 'version']);
  assert.equal(r.status, 0, r.stderr);
  r = runInImage('engram-tools', ['/bin/sh', '-c',
    'echo abc > /tmp/x && cd /tmp && sha256sum x > x.sha256 && sha256sum -c --quiet x.sha256 && sort x | head -n 1 | tail -n 1 | wc -l']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1');
});

test('every SBOM lists each file\'s Debian package with its installed version, and the Engram programs with their SHA-256', { skip }, () => {
  for (const image of built) {
    const bom = JSON.parse(readFileSync(path.join(out, `${image}.cdx.json`), 'utf8'));
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.metadata.component.type, 'container');
    assert.equal(bom.metadata.component.name, image);
    const byFile = new Map();
    for (const c of bom.components) for (const p of c.properties ?? []) if (p.name === 'cdx:image:file') byFile.set(p.value, c);
    const sources = readFileSync(path.join(out, image, 'sources.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
    for (const [dest, src] of sources) {
      const c = byFile.get(dest);
      assert.ok(c, `${image}: ${dest} is in no component`);
      if (c.purl.startsWith('pkg:deb/')) {
        const v = sh('dpkg-query', ['-W', '-f', '${Version}', c.name]);
        assert.equal(c.version, v, `${image}: ${c.name} version`);
        assert.match(c.purl, /^pkg:deb\/debian\/[a-z0-9.+-]+@[^?]+\?arch=\w+&distro=debian-\d+$/);
      } else {
        assert.match(c.purl, /^pkg:generic\/engram\//);
        if (c.hashes) {
          const digest = createHash('sha256').update(readFileSync(path.join(bundles[image], 'rootfs', dest))).digest('hex');
          assert.equal(c.hashes[0].content, digest, `${image}: ${dest} hash`);
        }
        assert.ok(src.startsWith(ROOT), `${image}: ${dest} not from this repository`);
      }
    }
    assert.ok(bom.components.some((c) => c.name === 'libc6' && c.purl.startsWith('pkg:deb/')), `${image}: libc6`);
    if (image === 'engram-control' && existsSync(path.join(ROOT, 'services/control/ui/package-lock.json'))) {
      assert.ok(bom.components.some((c) => c.purl.startsWith('pkg:npm/')), 'control: the UI\'s npm packages');
    }
  }
});
