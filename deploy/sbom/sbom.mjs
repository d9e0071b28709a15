// The CycloneDX SBOM of one image: cdxgen's own scan of the image (OCI archive) or of its root
// filesystem, then every file mapped to the Debian package it came from (dpkg -S on the build
// machine, dpkg-query for the version) as a versioned pkg:deb purl, the Engram programs as
// pkg:generic components with their SHA-256, and, for engram-control, the npm packages compiled into
// its embedded UI (services/control/ui/package-lock.json). Validated with cdx-validate.
//
//   node deploy/sbom/sbom.mjs --image NAME --version V --rootfs DIR --sources DEST_SRC.tsv --out FILE
//                             [--archive IMAGE.oci.tar]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values: a } = parseArgs({
  options: {
    image: { type: 'string' }, version: { type: 'string' }, rootfs: { type: 'string' },
    sources: { type: 'string' }, out: { type: 'string' }, archive: { type: 'string' },
  },
});
for (const k of ['image', 'version', 'rootfs', 'sources', 'out']) if (!a[k]) throw new Error(`--${k} is required`);
const bin = (n) => path.join(here, 'node_modules/.bin', n);
if (!existsSync(bin('cdxgen'))) throw new Error('cdxgen is not installed: (cd deploy/sbom && npm ci)');

// 1. cdxgen's scan (offline: no dependency installation, no registry lookups).
const tmp = mkdtempSync(path.join(os.tmpdir(), 'engram-sbom-'));
const raw = path.join(tmp, 'cdxgen.json');
const target = a.archive && existsSync(a.archive) ? a.archive : a.rootfs;
const r = spawnSync(bin('cdxgen'), ['-t', a.archive ? 'docker' : 'os', target, '-o', raw, '--no-install-deps',
  '--spec-version', '1.6', '--project-name', a.image, '--project-version', a.version],
{ encoding: 'utf8', env: { ...process.env, CDXGEN_TEMP_DIR: tmp, FETCH_LICENSE: 'false' }, timeout: 600000 });
if (r.status !== 0 || !existsSync(raw)) throw new Error(`cdxgen failed (${r.status}): ${r.stderr?.slice(-2000)}`);
const bom = JSON.parse(readFileSync(raw, 'utf8'));

// 2. Files -> Debian packages.
const distro = `debian-${readFileSync('/etc/debian_version', 'utf8').trim().split('.')[0]}`;
const dpkgOwner = (file) => {
  // On merged /usr, dpkg knows /lib/... for files ldd reports as /usr/lib/... and the other way round.
  const alts = [file, file.replace(/^\/usr\//, '/'), file.startsWith('/usr/') ? file : `/usr${file}`];
  for (const f of alts) {
    const q = spawnSync('dpkg', ['-S', f], { encoding: 'utf8' });
    if (q.status === 0) return q.stdout.split('\n')[0].split(':')[0].split(',')[0].trim();
  }
  // Generated files, attributed to the package that generates them.
  if (file === '/etc/ssl/certs/ca-certificates.crt') return 'ca-certificates';
  return null;
};
const pkgInfo = new Map();
const info = (pkg) => {
  if (!pkgInfo.has(pkg)) {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${Architecture}\t${source:Package}\t${Maintainer}\t${Homepage}', pkg], { encoding: 'utf8' });
    const [name, version, arch, source, maintainer, homepage] = out.split('\n')[0].split('\t');
    pkgInfo.set(pkg, { name, version, arch, source, maintainer, homepage });
  }
  return pkgInfo.get(pkg);
};
const sha256 = (f) => createHash('sha256').update(readFileSync(f)).digest('hex');

const components = new Map(); // bom-ref -> component
const fileRefs = new Map();   // image path -> bom-ref
const unresolved = [];
for (const line of readFileSync(a.sources, 'utf8').split('\n').filter(Boolean)) {
  const [dest, src] = line.split('\t');
  const pkg = dpkgOwner(src);
  let c;
  if (pkg) {
    const p = info(pkg);
    const purl = `pkg:deb/debian/${p.name}@${encodeURIComponent(p.version)}?arch=${p.arch}&distro=${distro}`;
    c = components.get(purl) ?? {
      type: /\.so(\.|$)/.test(dest) ? 'library' : 'application', name: p.name, version: p.version, purl, 'bom-ref': purl,
      publisher: p.maintainer, ...(p.homepage ? { externalReferences: [{ type: 'website', url: p.homepage }] } : {}),
      properties: [{ name: 'cdx:deb:source', value: p.source || p.name }],
    };
  } else if (src.startsWith(root)) {
    // Built from this repository.
    const name = path.basename(dest);
    const purl = `pkg:generic/engram/${name}@${a.version}`;
    c = { type: dest.startsWith('/usr/local/bin/') ? 'application' : 'file', name, version: a.version, purl, 'bom-ref': purl,
      hashes: [{ alg: 'SHA-256', content: sha256(path.join(a.rootfs, dest)) }],
      externalReferences: [{ type: 'vcs', url: 'https://github.com/engram/engram' }], properties: [] };
  } else {
    unresolved.push(`${dest} (${src})`);
    continue;
  }
  c.properties.push({ name: 'cdx:image:file', value: dest });
  components.set(c['bom-ref'], c);
  fileRefs.set(dest, c['bom-ref']);
}
if (unresolved.length) throw new Error(`files of no Debian package and not built here: ${unresolved.join(', ')}`);

// 3. npm packages inside engram-control's embedded UI.
if (a.image === 'engram-control') {
  const lock = path.join(root, 'services/control/ui/package-lock.json');
  if (existsSync(lock)) {
    const pkgs = JSON.parse(readFileSync(lock, 'utf8')).packages ?? {};
    for (const [where, p] of Object.entries(pkgs)) {
      if (!where || p.dev || !p.version) continue;
      const name = where.split('node_modules/').pop();
      const purl = `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${p.version}`;
      components.set(purl, { type: 'library', name, version: p.version, purl, 'bom-ref': purl,
        ...(p.integrity ? { hashes: [integrityHash(p.integrity)].filter(Boolean) } : {}),
        properties: [{ name: 'cdx:npm:embedded', value: 'bundled into the UI assets of engram-control' }] });
    }
  }
}
function integrityHash(sri) {
  const [alg, b64] = sri.split('-');
  const map = { sha512: 'SHA-512', sha384: 'SHA-384', sha256: 'SHA-256', sha1: 'SHA-1' };
  return map[alg] ? { alg: map[alg], content: Buffer.from(b64, 'base64').toString('hex') } : null;
}

// 4. Merge: cdxgen's components that name one of our files (pkg:generic/<basename>, no version) are
//    replaced by the versioned component; everything else cdxgen found is kept.
const basenames = new Map([...fileRefs].map(([f, ref]) => [path.basename(f), ref]));
const kept = [];
for (const c of bom.components ?? []) {
  if (c.purl?.startsWith('pkg:generic/') && basenames.has(c.name) && !c.version) continue;
  if (!components.has(c['bom-ref'])) kept.push(c);
}
const imageRef = `pkg:oci/${a.image}@${a.version}?repository_url=registry.example.com/engram/${a.image}`;
bom.metadata = bom.metadata ?? {};
bom.metadata.component = {
  type: 'container', name: a.image, version: a.version, 'bom-ref': imageRef, purl: imageRef,
  description: `Engram image ${a.image} (FROM scratch: the programs, their shared libraries, CA certificates)`,
};
bom.components = [...components.values(), ...kept];
const allRefs = bom.components.map((c) => c['bom-ref']).filter(Boolean);
bom.dependencies = [{ ref: imageRef, dependsOn: [...new Set(allRefs)] }, ...allRefs.map((ref) => ({ ref, dependsOn: [] }))];
// Dependencies must reference unique refs.
bom.dependencies = bom.dependencies.filter((d, i, arr) => arr.findIndex((x) => x.ref === d.ref) === i);
writeFileSync(a.out, `${JSON.stringify(bom, null, 2)}\n`);

// 5. Validate (schema and cdxgen's deep checks of purls and refs).
const v = spawnSync(bin('cdx-validate'), ['-i', a.out, '--fail-severity', 'critical', '--no-include-manual'], { encoding: 'utf8', timeout: 300000 });
rmSync(tmp, { recursive: true, force: true });
if (v.status !== 0) throw new Error(`cdx-validate ${a.out} failed (${v.status}):\n${v.stdout.slice(-3000)}\n${v.stderr.slice(-2000)}`);
const debs = [...components.values()].filter((c) => c.purl.startsWith('pkg:deb/')).length;
const npms = [...components.values()].filter((c) => c.purl.startsWith('pkg:npm/')).length;
console.log(`${a.out}: ${bom.components.length} components (${debs} Debian packages, ${npms} npm packages), valid`);
