// The alert rules: `promtool check rules` and `promtool test rules` (tests/k8s/rules_test.yaml) on the
// rules exactly as the PrometheusRule in k8s/components/monitoring ships them; every alert is tested,
// documented in docs/operations.md and used on metrics the binaries really export.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT, render } from './lib.mjs';

const rule = render('k8s/overlays/prod').find((o) => o.kind === 'PrometheusRule');
const dir = mkdtempSync(path.join(os.tmpdir(), 'engram-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'rules.yaml'), YAML.stringify(rule.spec));
copyFileSync(path.join(ROOT, 'tests/k8s/rules_test.yaml'), path.join(dir, 'rules_test.yaml'));
const alerts = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert).map((r) => r.alert);

test('promtool check rules', () => {
  const out = execFileSync('promtool', ['check', 'rules', path.join(dir, 'rules.yaml')], { encoding: 'utf8' });
  assert.match(out, /SUCCESS/);
});

test('promtool test rules (synthetic series)', () => {
  const out = execFileSync('promtool', ['test', 'rules', 'rules_test.yaml'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /SUCCESS/);
});

test('every alert has a unit test that expects it to fire, and a section in docs/operations.md', () => {
  const tests = YAML.parse(readFileSync(path.join(ROOT, 'tests/k8s/rules_test.yaml'), 'utf8')).tests;
  const fired = new Set(tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length).map((a) => a.alertname)));
  const ops = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
  const anchors = new Set([...ops.matchAll(/^#+ (.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const a of alerts) {
    assert.ok(fired.has(a), `${a}: no test expects it to fire`);
    const r = rule.spec.groups.flatMap((g) => g.rules).find((x) => x.alert === a);
    const anchor = r.annotations.runbook_url.split('#')[1];
    assert.ok(anchors.has(anchor), `${a}: docs/operations.md has no section #${anchor}`);
    assert.ok(['warning', 'critical'].includes(r.labels.severity), `${a}: severity`);
  }
});

test('the rules and the dashboard use only metrics the binaries export (or Kubernetes exporters)', () => {
  // Names registered in the C++ sources; counters get _total, histograms _bucket/_sum/_count.
  const exported = new Set();
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(cc|h)$/.test(f) && !/_test\.cc$/.test(f)) {
        const text = readFileSync(p, 'utf8');
        // Registry calls, and local add_<kind>(...) helpers that wrap them (the storage engine's
        // add_gauge records each callback gauge it registers).
        for (const m of text.matchAll(/(?:Add|\badd_)(Counter|Gauge|Histogram|CallbackGauge|counter|gauge|histogram)\(\s*(?:absl::StrCat\(\s*)?"(\w+)"(?:,\s*\w+->name|,\s*d->name)?/g)) {
          const [, rawKind, name] = m;
          const kind = rawKind[0].toUpperCase() + rawKind.slice(1);
          if (kind === 'Counter') exported.add(name.endsWith('_total') ? name : `${name}_total`);
          else if (kind === 'Histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
          else exported.add(name);
        }
      }
    }
  };
  for (const d of ['common', 'storage-server', 'services']) walk(path.join(ROOT, d));
  // engram_api_<dependency>_connected is built with StrCat.
  exported.add('engram_api_storage_connected'); exported.add('engram_api_hybrid_connected');
  const external = /^(up|kube_\w+|kubelet_\w+|engram:[\w:]+)$/;
  const texts = [YAML.stringify(rule.spec), readFileSync(path.join(ROOT, 'k8s/components/monitoring/engram-dashboard.json'), 'utf8')];
  const unknown = new Set();
  for (const t of texts) {
    for (const m of t.matchAll(/\b((?:engram|grpc_server|http_request)_[a-z0-9_]+|engram:[a-z0-9_:]+|kube_[a-z_]+|kubelet_[a-z_]+)\b/g)) {
      const n = m[1];
      if (!external.test(n) && !exported.has(n)) unknown.add(n);
    }
  }
  assert.deepEqual([...unknown], []);
});

test('the Grafana dashboard is valid JSON with a query in every panel', () => {
  const dash = JSON.parse(readFileSync(path.join(ROOT, 'k8s/components/monitoring/engram-dashboard.json'), 'utf8'));
  assert.equal(dash.uid, 'engram-overview');
  assert.ok(dash.templating.list.some((v) => v.name === 'namespace'));
  const panels = dash.panels.filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 20);
  for (const p of panels) {
    assert.ok(p.targets?.length, `${p.title}: no query`);
    for (const t of p.targets) assert.match(t.expr, /namespace="\$namespace"/, `${p.title}: not filtered by the namespace variable`);
  }
  for (const job of ['engram-api', 'engram-hybrid', 'engram-storage']) assert.ok(dash.panels.some((p) => p.type === 'row' && p.title === job), `row ${job}`);
  const cm = render('k8s/overlays/prod').find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'engram-grafana-dashboard');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  assert.deepEqual(JSON.parse(cm.data['engram-dashboard.json']), dash);
});
