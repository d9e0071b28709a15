// The checks a reviewer would otherwise do by hand, on the rendered overlays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  OVERLAYS, ROOT, SERVERS, render, id, podTemplate, matches, serverFlags, imageName, parseArgs, flagfileLines,
} from './lib.mjs';

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'Job', 'CronJob']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass', 'PriorityClass']);
const workloads = (objs) => objs.filter((o) => WORKLOAD_KINDS.has(o.kind));
const find = (objs, kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const containersOf = (spec) => [...(spec.initContainers ?? []), ...spec.containers];

// The scaling plan (../shared/design/brief.md, issue 10).
const PLAN = {
  'engram-api': {
    min: 3, max: 50, cpu: 70, memory: 80,
    up: { window: 30, type: 'Percent', value: 100, period: 30 },
    down: { window: 300, type: 'Percent', value: 50, period: 120 },
  },
  'engram-hybrid': { min: 2, max: 10, cpu: 60, memory: 75, down: { window: 600 } },
};

// Effective flags of one server container: defaults <- --flagfile (from its ConfigMap) <- args.
function effectiveFlags(objs, podSpec, container, problems, where) {
  const server = serverFlags(imageName(container.image));
  const seq = [];
  for (const [name, value] of parseArgs([...(container.command ?? []).slice(1), ...(container.args ?? [])])) {
    if (name === 'flagfile') {
      const text = fileFromVolume(objs, podSpec, container, value, problems, where);
      if (text !== null) for (const [n, v] of parseArgs(flagfileLines(text))) seq.push([n, v, `${value}`]);
    }
    seq.push([name, value, 'args']);
  }
  const eff = new Map();
  for (const [name, value, from] of seq) {
    if (!server.flags.has(name)) {
      problems.push(`${where}: --${name} (${from}) is not a flag of ${imageName(container.image)} (${server.source})`);
    }
    eff.set(name, value);
  }
  const grpcPort = eff.has('grpc_port') ? Number(eff.get('grpc_port')) : server.grpcPort;
  const httpPort = eff.has('http_port') ? Number(eff.get('http_port')) : server.httpPort;
  return { eff, grpcPort, httpPort, server };
}

// The content of a file the container sees at `file`, when it comes from a ConfigMap/Secret volume.
function fileFromVolume(objs, podSpec, container, file, problems, where) {
  for (const m of container.volumeMounts ?? []) {
    if (!file.startsWith(`${m.mountPath}/`)) continue;
    const key = file.slice(m.mountPath.length + 1);
    const vol = podSpec.volumes.find((v) => v.name === m.name);
    if (vol?.configMap) {
      const cm = find(objs, 'ConfigMap', vol.configMap.name);
      if (!cm) { problems.push(`${where}: ConfigMap ${vol.configMap.name} for ${file} is not in the overlay`); return null; }
      if (!(key in (cm.data ?? {}))) { problems.push(`${where}: ConfigMap ${cm.metadata.name} has no ${key}`); return null; }
      return cm.data[key];
    }
    if (vol?.secret) {
      const s = find(objs, 'Secret', vol.secret.secretName);
      if (s && !(key in (s.data ?? {})) && !(key in (s.stringData ?? {}))) problems.push(`${where}: Secret ${s.metadata.name} has no ${key}`);
      return s ? Buffer.from(String(s.data?.[key] ?? '').replace(/\s/g, ''), 'base64').toString() : '';
    }
    problems.push(`${where}: ${file} is on volume ${m.name}, neither ConfigMap nor Secret`);
    return null;
  }
  problems.push(`${where}: nothing is mounted at ${path.dirname(file)} (for ${file})`);
  return null;
}

function mountedOn(podSpec, container, dir) {
  return (container.volumeMounts ?? []).find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`));
}

// host:port or dns:///host:port -> Service in objs; returns {svc, port} or problem.
function resolveAddr(objs, addr) {
  const m = String(addr).replace(/^dns:\/\/\//, '').match(/^([a-z0-9-]+)(?:\.[a-z0-9.-]+)?:(\d+)$/);
  if (!m) return { error: `cannot parse address ${addr}` };
  const svc = find(objs, 'Service', m[1]);
  if (!svc) return { error: `no Service ${m[1]} (from ${addr})` };
  const port = svc.spec.ports.find((p) => p.port === Number(m[2]));
  if (!port) return { error: `Service ${m[1]} has no port ${m[2]}` };
  return { svc, port: port.port, targetPort: port.targetPort };
}

// The pods (workload, container) a Service selects, and the container port its targetPort means.
function backendPods(objs, svc) {
  return workloads(objs).filter((w) => w.kind !== 'CronJob' && w.kind !== 'Job' &&
    matches({ matchLabels: svc.spec.selector }, podTemplate(w).metadata.labels));
}

for (const dir of ['k8s/overlays/dev', 'k8s/overlays/prod', 'k8s/overlays/keda']) {
  const objs = render(dir);
  const servers = [];
  for (const w of workloads(objs)) {
    const spec = podTemplate(w).spec;
    for (const c of spec.containers) if (SERVERS[imageName(c.image)]) servers.push({ w, spec, c, name: imageName(c.image) });
  }

  test(`${dir}: every server's flags exist, and its probes and ports are the ports it listens on`, () => {
    const problems = [];
    assert.deepEqual(servers.map((s) => s.name).sort(), Object.keys(SERVERS).sort());
    for (const { w, spec, c, name } of servers) {
      const where = `${id(w)} ${c.name}`;
      const { eff, grpcPort, httpPort, server } = effectiveFlags(objs, spec, c, problems, where);
      const listen = eff.get('listen_address') ?? server.flags.get('listen_address')?.def?.replace(/"/g, '');
      if (listen !== '0.0.0.0') problems.push(`${where}: --listen_address=${listen}: probes and Services cannot reach it`);
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      if (ports.get('http') !== httpPort) problems.push(`${where}: containerPort http ${ports.get('http')} but --http_port is ${httpPort}`);
      if (server.grpcPort !== null || eff.has('grpc_port')) {
        if (ports.get('grpc') !== grpcPort) problems.push(`${where}: containerPort grpc ${ports.get('grpc')} but --grpc_port is ${grpcPort}`);
      } else if (ports.has('grpc')) problems.push(`${where}: declares a grpc port but ${name} has no gRPC server`);
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const p = c[kind];
        if (!p) { problems.push(`${where}: no ${kind}`); continue; }
        if (p.grpc) {
          if (p.grpc.port !== grpcPort) problems.push(`${where}: ${kind} gRPC port ${p.grpc.port}, server listens on ${grpcPort}`);
          if (p.grpc.service && p.grpc.service !== SERVERS[name].health) problems.push(`${where}: ${kind} asks health of ${p.grpc.service}, server registers ${SERVERS[name].health}`);
        } else if (p.httpGet) {
          if (p.httpGet.port !== httpPort) problems.push(`${where}: ${kind} HTTP port ${p.httpGet.port}, server listens on ${httpPort}`);
          if (!['/healthz', '/readyz'].includes(p.httpGet.path)) problems.push(`${where}: ${kind} path ${p.httpGet.path}`);
          if (kind === 'livenessProbe' && p.httpGet.path !== '/healthz') problems.push(`${where}: liveness must be /healthz (readiness failures must not restart)`);
        } else problems.push(`${where}: ${kind} is neither gRPC nor HTTP`);
      }
      if (SERVERS[name].health && !c.readinessProbe?.grpc) problems.push(`${where}: readiness should be the gRPC-native probe`);
      // Every address flag names a Service of the overlay, on the port the target listens on.
      for (const [flag, target, kindOfPort] of [
        ['storage_addr', 'engram-storage', 'grpc'], ['hybrid_addr', 'engram-hybrid', 'grpc'],
        ['storage_http_addr', 'engram-storage', 'http'], ['api_http_addr', 'engram-api', 'http']]) {
        if (!eff.has(flag)) continue;
        const r = resolveAddr(objs, eff.get(flag));
        if (r.error) { problems.push(`${where}: --${flag}: ${r.error}`); continue; }
        const pods = backendPods(objs, r.svc);
        const tc = pods.flatMap((p) => podTemplate(p).spec.containers).find((x) => imageName(x.image) === target);
        if (!tc) { problems.push(`${where}: --${flag} Service ${r.svc.metadata.name} does not select ${target}`); continue; }
        const cp = (tc.ports ?? []).find((p) => p.name === r.targetPort || p.containerPort === r.targetPort);
        if (cp?.name !== kindOfPort) problems.push(`${where}: --${flag} reaches ${target}'s ${cp?.name} port, not ${kindOfPort}`);
      }
      if (eff.has('hybrid_addr')) {
        const r = resolveAddr(objs, eff.get('hybrid_addr'));
        if (r.svc?.spec.clusterIP !== 'None') problems.push(`${where}: --hybrid_addr must name the headless Service (one address per replica)`);
        if (name === 'engram-api' && !String(eff.get('hybrid_addr')).startsWith('dns:///')) problems.push(`${where}: api's --hybrid_addr needs dns:/// to balance`);
      }
      if (eff.has('hybrid_http_port')) {
        const hp = servers.find((s) => s.name === 'engram-hybrid');
        if (Number(eff.get('hybrid_http_port')) !== hp.c.ports.find((p) => p.name === 'http').containerPort) problems.push(`${where}: --hybrid_http_port is not hybrid's HTTP port`);
      }
      if (eff.has('api_keys_file')) {
        const m = mountedOn(spec, c, eff.get('api_keys_file'));
        const vol = m && spec.volumes.find((v) => v.name === m.name);
        if (!vol?.secret) problems.push(`${where}: --api_keys_file is not on a Secret volume`);
        if (m?.subPath) problems.push(`${where}: the keys Secret is mounted with subPath: the kubelet never updates it (no rotation)`);
        if (vol?.secret) fileFromVolume(objs, spec, c, eff.get('api_keys_file'), problems, where);
      }
      for (const flag of ['data_dir', 'snapshot_dir', 'model_dir']) {
        if (!eff.has(flag)) continue;
        if (!mountedOn(spec, c, eff.get(flag))) problems.push(`${where}: --${flag}=${eff.get(flag)} is not on a volume (the root filesystem is read-only)`);
      }
      if (name === 'engram-storage') {
        const d = mountedOn(spec, c, eff.get('data_dir'));
        const s = mountedOn(spec, c, eff.get('snapshot_dir'));
        const vcts = (w.spec.volumeClaimTemplates ?? []).map((v) => v.metadata.name);
        if (!vcts.includes(d?.name)) problems.push(`${where}: --data_dir is not on a volumeClaimTemplate`);
        if (!vcts.includes(s?.name)) problems.push(`${where}: --snapshot_dir is not on a volumeClaimTemplate`);
        if (d?.name === s?.name) problems.push(`${where}: snapshots share the data volume`);
      }
      // Annotation-based scraping points at the port /metrics is served on.
      const ann = podTemplate(w).metadata.annotations ?? {};
      if (ann['prometheus.io/scrape'] !== 'true' || Number(ann['prometheus.io/port']) !== httpPort || ann['prometheus.io/path'] !== '/metrics') {
        problems.push(`${where}: prometheus.io annotations do not point at http port ${httpPort} /metrics`);
      }
      // Drain: preStop, then SIGTERM; the pod must get the whole drain before SIGKILL.
      const pre = c.lifecycle?.preStop?.sleep?.seconds;
      if (!(pre > 0)) problems.push(`${where}: no preStop sleep (endpoints must drain before SIGTERM)`);
      const drain = Number(eff.get('drain_seconds') ?? server.flags.get('drain_seconds')?.def ?? 20);
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      const margin = name === 'engram-storage' ? 60 : 5; // storage writes a final checkpoint
      if (grace < (pre ?? 0) + drain + margin) problems.push(`${where}: terminationGracePeriodSeconds ${grace} < preStop ${pre} + drain ${drain} + ${margin}`);
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: every pod is guaranteed QoS, non-root, with a read-only root filesystem`, () => {
    const problems = [];
    for (const w of workloads(objs)) {
      const spec = podTemplate(w).spec;
      const psc = spec.securityContext ?? {};
      if (psc.runAsNonRoot !== true) problems.push(`${id(w)}: runAsNonRoot is not true`);
      if (!(psc.runAsUser > 0)) problems.push(`${id(w)}: runAsUser must be a non-zero uid`);
      if (!(psc.fsGroup > 0)) problems.push(`${id(w)}: no fsGroup (volumes would not be writable by the uid)`);
      if (psc.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${id(w)}: seccompProfile is not RuntimeDefault`);
      if (spec.automountServiceAccountToken !== false) problems.push(`${id(w)}: mounts a service-account token it does not need`);
      if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push(`${id(w)}: uses host namespaces`);
      for (const c of containersOf(spec)) {
        const where = `${id(w)} ${c.name}`;
        const sc = c.securityContext ?? {};
        if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: root filesystem is writable`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
        if (sc.privileged) problems.push(`${where}: privileged`);
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities not dropped`);
        if (sc.runAsUser === 0) problems.push(`${where}: runs as root`);
        const r = c.resources ?? {};
        for (const res of ['cpu', 'memory']) {
          if (!r.requests?.[res] || !r.limits?.[res]) problems.push(`${where}: no ${res} request and limit`);
          else if (String(r.requests[res]) !== String(r.limits[res])) problems.push(`${where}: ${res} request ${r.requests[res]} != limit ${r.limits[res]} (not guaranteed QoS)`);
        }
        if (/:latest$|^[^:]+$/.test(c.image.split('/').pop())) problems.push(`${where}: image ${c.image} has no pinned tag`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: storage is one replica, one writer, with a startup probe that covers recovery`, () => {
    const sts = objs.filter((o) => o.kind === 'StatefulSet');
    assert.equal(sts.length, 1);
    const s = sts[0];
    assert.equal(s.spec.replicas, 1, 'engram-storage must have exactly 1 replica');
    assert.ok(['RollingUpdate', 'OnDelete'].includes(s.spec.updateStrategy?.type ?? 'RollingUpdate'));
    assert.ok(!s.spec.updateStrategy?.rollingUpdate?.maxUnavailable, 'maxUnavailable would allow parallel pods');
    assert.equal(s.spec.podManagementPolicy ?? 'OrderedReady', 'OrderedReady');
    assert.equal(s.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted, 'Retain', 'deleting the StatefulSet must keep the data');
    const c = s.spec.template.spec.containers[0];
    assert.ok(c.startupProbe?.grpc, 'startup probe must wait for SERVING (after recovery)');
    const budget = c.startupProbe.periodSeconds * c.startupProbe.failureThreshold;
    assert.ok(budget >= 600, `startup probe allows only ${budget} s of recovery`);
    assert.ok(c.livenessProbe?.httpGet, 'liveness must be the HTTP /healthz (live from the first second)');
    // Nothing else may mount storage's claims, and nothing may scale it.
    for (const w of workloads(objs)) {
      if (w === s) continue;
      for (const v of podTemplate(w).spec.volumes ?? []) {
        assert.ok(!String(v.persistentVolumeClaim?.claimName ?? '').includes('engram-storage'), `${id(w)} mounts storage's volume`);
      }
    }
    for (const h of objs.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject')) {
      assert.notEqual(h.spec.scaleTargetRef.kind, 'StatefulSet', `${id(h)} scales storage`);
    }
    const pvc = (n) => s.spec.volumeClaimTemplates.find((v) => v.metadata.name === n);
    assert.ok(pvc('data') && pvc('snapshots'), 'data and snapshot volumeClaimTemplates');
    if (dir !== 'k8s/overlays/dev') assert.equal(pvc('data').spec.resources.requests.storage, '50Gi');
  });

  test(`${dir}: Services, HPAs, ScaledObjects and PDBs point at things that exist`, () => {
    const problems = [];
    const pods = workloads(objs).filter((w) => !['Job', 'CronJob'].includes(w.kind));
    for (const svc of objs.filter((o) => o.kind === 'Service')) {
      if (svc.spec.sessionAffinity && svc.spec.sessionAffinity !== 'None') problems.push(`${id(svc)}: session affinity`);
      const sel = backendPods(objs, svc);
      if (sel.length === 0) { problems.push(`${id(svc)}: selector ${JSON.stringify(svc.spec.selector)} matches no pods`); continue; }
      for (const p of svc.spec.ports) {
        const ok = sel.every((w) => podTemplate(w).spec.containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort)));
        if (!ok) problems.push(`${id(svc)}: targetPort ${p.targetPort} is not a container port of every selected pod`);
      }
    }
    for (const w of pods) {
      if (!matches(w.spec.selector, podTemplate(w).metadata.labels)) problems.push(`${id(w)}: selector does not match its own template`);
    }
    const scalers = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject');
    const targets = new Map();
    for (const h of scalers) {
      const t = find(objs, h.spec.scaleTargetRef.kind ?? 'Deployment', h.spec.scaleTargetRef.name);
      if (!t) problems.push(`${id(h)}: target ${h.spec.scaleTargetRef.name} does not exist`);
      const key = h.spec.scaleTargetRef.name;
      if (targets.has(key)) problems.push(`${id(h)} and ${targets.get(key)} both scale ${key}`);
      targets.set(key, id(h));
      if (t && t.spec.replicas !== undefined) problems.push(`${id(t)}: sets replicas although ${id(h)} owns them (apply would reset the scale)`);
    }
    for (const pdb of objs.filter((o) => o.kind === 'PodDisruptionBudget')) {
      if (!pods.some((w) => matches(pdb.spec.selector, podTemplate(w).metadata.labels))) problems.push(`${id(pdb)}: selects no pods`);
      if (pdb.spec.unhealthyPodEvictionPolicy !== 'AlwaysAllow') problems.push(`${id(pdb)}: a crash-looping pod would block node drains`);
    }
    if (dir !== 'k8s/overlays/dev') {
      for (const w of pods) {
        if (!objs.some((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector, podTemplate(w).metadata.labels))) problems.push(`${id(w)}: no PodDisruptionBudget`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: replicated services spread over nodes`, () => {
    for (const w of objs.filter((o) => o.kind === 'Deployment')) {
      const spec = podTemplate(w).spec;
      const spread = (spec.topologySpreadConstraints ?? []).some((t) => t.topologyKey === 'kubernetes.io/hostname' && matches(t.labelSelector, podTemplate(w).metadata.labels));
      const anti = spec.affinity?.podAntiAffinity;
      assert.ok(spread || anti, `${id(w)}: no topology spread or anti-affinity`);
    }
  });

  test(`${dir}: labels follow app.kubernetes.io/* and every namespaced object has the namespace`, () => {
    const problems = [];
    const ns = dir === 'k8s/overlays/dev' ? 'engram-dev' : 'engram';
    for (const o of objs) {
      for (const l of ['name', 'instance', 'part-of', 'managed-by']) {
        if (!o.metadata.labels?.[`app.kubernetes.io/${l}`]) problems.push(`${id(o)}: no app.kubernetes.io/${l}`);
      }
      if (!CLUSTER_SCOPED.has(o.kind) && o.metadata.namespace !== ns) problems.push(`${id(o)}: namespace ${o.metadata.namespace}, expected ${ns}`);
      const t = podTemplate(o);
      if (t && !t.metadata.labels?.['app.kubernetes.io/part-of']) problems.push(`${id(o)}: pod template lacks part-of (default-deny NetworkPolicy selects on it)`);
    }
    assert.deepEqual(problems, []);
  });

  test(`${dir}: HPA numbers are the scaling plan's`, () => {
    const hpas = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    const so = objs.filter((o) => o.kind === 'ScaledObject');
    if (dir === 'k8s/overlays/dev') { assert.equal(hpas.length + so.length, 0); return; }
    for (const [name, plan] of Object.entries(PLAN)) {
      const h = hpas.find((x) => x.spec.scaleTargetRef.name === name);
      const k = so.find((x) => x.spec.scaleTargetRef.name === name);
      assert.ok(!!h !== !!k, `${name}: exactly one of HPA or ScaledObject (${dir})`);
      let min; let max; let behavior; let cpu; let memory;
      if (h) {
        ({ minReplicas: min, maxReplicas: max, behavior } = h.spec);
        const res = (n) => h.spec.metrics.find((m) => m.type === 'Resource' && m.resource.name === n)?.resource.target;
        assert.equal(res('cpu').type, 'Utilization');
        cpu = res('cpu').averageUtilization; memory = res('memory').averageUtilization;
      } else {
        ({ minReplicaCount: min, maxReplicaCount: max } = k.spec);
        behavior = k.spec.advanced.horizontalPodAutoscalerConfig.behavior;
        const trig = (t) => k.spec.triggers.find((x) => x.type === t);
        assert.equal(trig('cpu').metricType, 'Utilization');
        cpu = Number(trig('cpu').metadata.value); memory = Number(trig('memory').metadata.value);
        const prom = trig('prometheus');
        assert.ok(prom, 'KEDA scales api on the request rate');
        assert.equal(prom.metricType, 'AverageValue', 'per pod');
        assert.equal(Number(prom.metadata.threshold), 100, '100 req/s per pod');
        assert.match(prom.metadata.query, /engram_api_requests_total/);
      }
      assert.deepEqual([min, max, cpu, memory], [plan.min, plan.max, plan.cpu, plan.memory], name);
      assert.equal(behavior.scaleDown.stabilizationWindowSeconds, plan.down.window, `${name} scale-down window`);
      if (plan.down.type) {
        assert.deepEqual(behavior.scaleDown.policies, [{ type: plan.down.type, value: plan.down.value, periodSeconds: plan.down.period }]);
      }
      if (plan.up) {
        assert.equal(behavior.scaleUp.stabilizationWindowSeconds, plan.up.window, `${name} scale-up window`);
        assert.deepEqual(behavior.scaleUp.policies, [{ type: plan.up.type, value: plan.up.value, periodSeconds: plan.up.period }]);
      }
    }
    assert.ok(!hpas.some((h) => h.spec.scaleTargetRef.name === 'engram-control'), 'control has no HPA');
    if (dir === 'k8s/overlays/keda') assert.ok(!hpas.some((h) => h.spec.scaleTargetRef.name === 'engram-api'), 'KEDA owns the api HPA');
    assert.equal(find(objs, 'Deployment', 'engram-control').spec.replicas, 2);
  });

  // A small NetworkPolicy evaluator: sources are pods of the overlay (by labels) or outside
  // namespaces (by their kubernetes.io/metadata.name).
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
  const podLabels = (name) => {
    const w = workloads(objs).find((x) => podTemplate(x).metadata.labels['app.kubernetes.io/name'] === name);
    return { pod: podTemplate(w).metadata.labels };
  };
  const ext = (ns) => ({ namespace: ns, pod: {} });
  const peerMatches = (peer, who) => {
    if (peer.ipBlock) return !!who.ip;
    if (who.namespace) { // from outside the namespace: needs a namespaceSelector that matches
      if (!peer.namespaceSelector) return false;
      if (!matches(peer.namespaceSelector, { 'kubernetes.io/metadata.name': who.namespace })) return false;
      return !peer.podSelector || matches(peer.podSelector, who.pod);
    }
    if (who.ip) return false;
    if (peer.namespaceSelector) return false; // our pods are in our namespace, matched by podSelector
    return matches(peer.podSelector ?? {}, who.pod);
  };
  const portOk = (rulePorts, port) => !rulePorts?.length || rulePorts.some((p) => p.port === port || p.port === undefined);
  const allowed = (src, dst, port) => {
    // egress of src (only when src is one of our pods)
    if (src.pod && !src.namespace) {
      const eg = policies.filter((p) => matches(p.spec.podSelector, src.pod) && p.spec.policyTypes.includes('Egress'));
      if (eg.length && !eg.some((p) => (p.spec.egress ?? []).some((r) => portOk(r.ports, port) && (!r.to?.length || r.to.some((peer) => peerMatches(peer, dst)))))) return false;
    }
    if (dst.pod && !dst.namespace && !dst.ip) {
      const ing = policies.filter((p) => matches(p.spec.podSelector, dst.pod) && p.spec.policyTypes.includes('Ingress'));
      if (ing.length && !ing.some((p) => (p.spec.ingress ?? []).some((r) => portOk(r.ports, port) && (!r.from?.length || r.from.some((peer) => peerMatches(peer, src)))))) return false;
    }
    return true;
  };

  test(`${dir}: NetworkPolicies allow exactly the flows the suite needs`, () => {
    const S = podLabels('engram-storage'); const H = podLabels('engram-hybrid');
    const A = podLabels('engram-api'); const C = podLabels('engram-control'); const B = podLabels('engram-snapshot');
    const ING = ext('ingress-nginx'); const PROM = ext('monitoring'); const OTHER = ext('some-app');
    const DNS = { namespace: 'kube-system', pod: { 'k8s-app': 'kube-dns' } };
    const must = [
      [A, S, 50053], [H, S, 50053], [C, S, 50053], [B, S, 50053], [C, S, 9103],
      [A, H, 50052], [C, H, 50052], [C, H, 9102], [C, A, 8080],
      [ING, A, 8080], [ING, A, 50051], [ING, C, 8090],
      [PROM, S, 9103], [PROM, H, 9102], [PROM, A, 8080], [PROM, C, 8090],
      [A, DNS, 53], [H, DNS, 53], [C, DNS, 53], [B, DNS, 53], [B, { ip: '52.1.2.3' }, 443],
    ];
    const mustNot = [
      [ING, S, 50053], [OTHER, S, 50053], [PROM, S, 50053], [H, A, 50051], [S, H, 50052], [S, A, 8080],
      [ING, H, 50052], [OTHER, A, 8080], [A, C, 8090], [B, A, 8080], [B, H, 50052], [S, { ip: '52.1.2.3' }, 443],
      [A, { ip: '52.1.2.3' }, 443], [OTHER, C, 8090],
    ];
    const name = (x) => x.pod?.['app.kubernetes.io/name'] ?? x.namespace ?? x.ip;
    const problems = [];
    for (const [s, d, p] of must) if (!allowed(s, d, p)) problems.push(`blocked: ${name(s)} -> ${name(d)}:${p}`);
    for (const [s, d, p] of mustNot) if (allowed(s, d, p)) problems.push(`allowed: ${name(s)} -> ${name(d)}:${p}`);
    assert.ok(policies.some((p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).join() === 'app.kubernetes.io/part-of' && p.spec.policyTypes.length === 2 && !p.spec.ingress && !p.spec.egress), 'a default-deny policy');
    assert.deepEqual(problems, []);
  });

  test(`${dir}: Ingress serves REST at /, gRPC over HTTP/2 and the control UI at /control/`, () => {
    const ings = objs.filter((o) => o.kind === 'Ingress');
    const route = (p) => ings.flatMap((i) => i.spec.rules.flatMap((r) => r.http.paths.map((x) => ({ i, x })))).find(({ x }) => x.path === p);
    const backend = (r) => { const svc = find(objs, 'Service', r.x.backend.service.name); return { svc, port: svc?.spec.ports.find((p) => p.name === r.x.backend.service.port.name || p.port === r.x.backend.service.port.number) }; };
    const rest = route('/'); const grpc = route('/engram.v1.Engram/'); const ctl = route('/control/(.*)');
    assert.ok(rest && grpc && ctl, 'the three routes');
    assert.deepEqual([backend(rest).svc.metadata.name, backend(rest).port.port], ['engram-api', 8080]);
    assert.deepEqual([backend(grpc).svc.metadata.name, backend(grpc).port.port], ['engram-api', 50051]);
    assert.equal(grpc.i.metadata.annotations['nginx.ingress.kubernetes.io/backend-protocol'], 'GRPC');
    assert.deepEqual([backend(ctl).svc.metadata.name, backend(ctl).port.port], ['engram-control', 8090]);
    for (const i of ings) {
      for (const r of i.spec.rules) for (const p of r.http.paths) assert.ok(backend({ x: p }).port, `${id(i)} ${p.path}: backend port exists`);
      if (dir === 'k8s/overlays/dev') assert.ok(!i.spec.tls, 'dev is plaintext');
      else {
        assert.ok(i.spec.tls?.[0]?.secretName, `${id(i)}: TLS`);
        assert.deepEqual(i.spec.tls[0].hosts, i.spec.rules.map((r) => r.host), `${id(i)}: TLS hosts = rule hosts`);
        assert.ok(i.metadata.annotations['cert-manager.io/cluster-issuer'], `${id(i)}: cert-manager`);
      }
    }
  });

  test(`${dir}: the snapshot CronJob runs the committed script against storage`, () => {
    const cj = find(objs, 'CronJob', 'engram-snapshot-export');
    assert.ok(cj);
    assert.equal(cj.spec.concurrencyPolicy, 'Forbid');
    const spec = podTemplate(cj).spec;
    const c = spec.containers[0];
    const script = fileFromVolume(objs, spec, c, c.command[1], [], id(cj));
    assert.equal(script, readFileSync(path.join(ROOT, 'k8s/base/snapshot/engram-snapshot.sh'), 'utf8'));
    assert.equal(c.command[2], 'export');
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.ok(resolveAddr(objs, env.ENGRAM_STORAGE_ADDR).svc, 'ENGRAM_STORAGE_ADDR is a Service');
    const work = mountedOn(spec, c, env.ENGRAM_WORK_DIR);
    assert.ok(work, 'work dir is a volume');
    const backup = find(objs, 'ConfigMap', 'engram-backup');
    assert.match(backup.data.ENGRAM_BACKUP_REMOTE, /^[\w-]+:/);
    assert.ok(Number(backup.data.ENGRAM_BACKUP_RETENTION) >= 1);
    if (dir === 'k8s/overlays/dev') assert.equal(cj.spec.suspend, true);
    else assert.ok(!cj.spec.suspend);
  });
}

test('k8s/jobs/restore: runs the restore of the same script, in the prod namespace', () => {
  const [job] = render('k8s/jobs/restore');
  const prod = render('k8s/overlays/prod');
  assert.equal(job.kind, 'Job');
  assert.equal(job.metadata.namespace, find(prod, 'CronJob', 'engram-snapshot-export').metadata.namespace);
  const c = job.spec.template.spec.containers[0];
  const cj = podTemplate(find(prod, 'CronJob', 'engram-snapshot-export')).spec.containers[0];
  assert.equal(c.image, cj.image);
  assert.deepEqual(c.command.slice(0, 2), cj.command.slice(0, 2));
  assert.equal(c.command[2], 'restore');
  assert.equal(job.spec.template.spec.volumes.find((v) => v.name === 'scripts').configMap.name, 'engram-snapshot-scripts');
  assert.ok(find(prod, 'ConfigMap', 'engram-snapshot-scripts'), 'the script ConfigMap has a fixed name in prod');
});

test('the flag check catches an invented flag and a wrong probe port', () => {
  // Feed a broken copy through the same code path.
  const objs = structuredClone(render('k8s/overlays/prod'));
  const s = find(objs, 'StatefulSet', 'engram-storage');
  const c = s.spec.template.spec.containers[0];
  c.args.push('--wal_dir=/x');
  const problems = [];
  const { grpcPort } = effectiveFlags(objs, s.spec.template.spec, c, problems, 'x');
  assert.equal(problems.length, 1, problems.join());
  c.args.push('--grpc_port=6000');
  assert.equal(effectiveFlags(objs, s.spec.template.spec, c, [], 'x').grpcPort, 6000);
  assert.equal(grpcPort, 50053);
});
