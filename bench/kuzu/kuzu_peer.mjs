// The Kuzu 0.11.3 side of bench/peer_bench (docs/benchmarks.md, "Whole-system peer: Kuzu 0.11.3").
//
//   node kuzu_peer.mjs DATA_DIR DB_DIR [efs list, default 16,32,64,128,256] [reps, default 3]
//                      [index: after (default) | before] [load: create (default) | copy]
//
// Reads the files `peer_bench --mode=gen` wrote and measures, in process, one connection limited
// to one execution thread, each query awaited before the next:
//   ingest         batches of 1000 concepts plus their associations, each one explicit
//                  transaction (Kuzu's WAL is synced on every commit). index=after: the HNSW
//                  index is built once at the end (CREATE_VECTOR_INDEX; "ingest+index" includes
//                  it); index=before: created on the empty table, so every commit indexes its
//                  vectors. load=create: each batch is one explicit transaction of
//                  `UNWIND $rows ... CREATE` (concepts) and `UNWIND ... MATCH ... CREATE`
//                  (associations); load=copy: each batch is written to two tab-separated .csv files and loaded
//                  with `COPY Concept FROM` then `COPY Assoc FROM` (Kuzu's bulk loader; two
//                  transactions per batch, COPY cannot run inside an explicit one), the time to
//                  write the files included.
//   knn            CALL QUERY_VECTOR_INDEX(..., 10, efs := ef), recall@10 against truth.tsv
//   filtered_knn   the same over PROJECT_GRAPH('f', {'Concept': 'n.attr = "<filter.txt>"'})
//                  (Kuzu's filtered search)
//   neighbors      1 hop, both directions, highest confidence first, limit 50 (id, text, conf)
//   shortest_path  [e:Assoc* SHORTEST 1..6], both directions
//   best_path      [e:Assoc* WSHORTEST(w)] (it ignores a hop bound) with w = -ln(confidence x
//                  0.85): the path with the highest product of confidences times 0.85 per hop,
//                  Engram's BEST with its default decay. cost(e) (not cost(p): that crashes 0.11.3).
// Prints "row<TAB>metric<TAB>value" lines like peer_bench --mode=engram, and writes each path's
// hops and cost to DB_DIR/../kuzu_<row>.tsv for comparison with Engram's.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import kuzu from 'kuzu';

const [dataDir, dbDir, efsArg = '16,32,64,128,256', repsArg = '3', indexWhen = 'after', load = 'create'] = process.argv.slice(2);
if (!dataDir || !dbDir) {
  console.error('usage: node kuzu_peer.mjs DATA_DIR DB_DIR [efs] [reps] [after|before] [create|copy]');
  process.exit(2);
}
if (load !== 'create' && load !== 'copy') {
  console.error(`load: want create or copy, got ${load}`);
  process.exit(2);
}
const DECAY = 0.85;  // per hop, as peer_bench's FindPaths requests (Engram's default)
const efs = efsArg.split(',').map(Number);
const reps = Number(repsArg);
// Line by line: at 1M concepts concepts.tsv is larger than the longest string Node can hold.
const tsv = async (f) => {
  const rows = [];
  const lines = readline.createInterface({ input: fs.createReadStream(path.join(dataDir, f)), crlfDelay: Infinity });
  for await (const l of lines) if (l) rows.push(l.split('\t'));
  return rows;
};
const vec = (s) => s.split(',').map(Number);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const row = (r, m, v) => console.log(`${r}\t${m}\t${Number(v.toPrecision(4))}`);
const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const concepts = await tsv('concepts.tsv');
const assocs = await tsv('assocs.tsv');
const queries = (await tsv('queries.tsv')).map((r) => vec(r[0]));
const truth = await tsv('truth.tsv');
const seeds = (await tsv('seeds.txt')).map((r) => r[0]);
const pairs = await tsv('pairs.tsv');
const nq = queries.length;
// The attr value of the filtered reads (filter.txt; datasets written before it filter on a3).
const filterFile = path.join(dataDir, 'filter.txt');
const filterAttr = fs.existsSync(filterFile) ? fs.readFileSync(filterFile, 'utf8').trim() : 'a3';
// Each association goes in the batch of the later of its two concepts, as on Engram's side.
const index = new Map(concepts.map((c, i) => [c[0], i]));
const byLater = concepts.map(() => []);
for (const a of assocs) byLater[Math.max(index.get(a[0]), index.get(a[1]))].push(a);

// The database is a file with a WAL beside it: a stale WAL would replay the last run's tables.
for (const f of [dbDir, `${dbDir}.wal`, `${dbDir}.shadow`]) fs.rmSync(f, { recursive: true, force: true });
fs.mkdirSync(path.dirname(path.resolve(dbDir)), { recursive: true });
const db = new kuzu.Database(dbDir);
const conn = new kuzu.Connection(db, 1);
const prepared = new Map();
const run = async (q, params) => {
  if (!params) return conn.query(q);
  if (!prepared.has(q)) prepared.set(q, await conn.prepare(q));
  return conn.execute(prepared.get(q), params);
};
const all = async (q, params) => (await run(q, params)).getAll();

const dim = vec(concepts[0][3]).length;
await run(`CREATE NODE TABLE Concept(id STRING PRIMARY KEY, attr STRING, text STRING, vec FLOAT[${dim}])`);
await run('CREATE REL TABLE Assoc(FROM Concept TO Concept, type STRING, conf DOUBLE, w DOUBLE)');
const createIndex = "CALL CREATE_VECTOR_INDEX('Concept', 'vidx', 'vec', metric := 'cosine')";
if (indexWhen !== 'after' && indexWhen !== 'before') {
  console.error(`index: want after or before, got ${indexWhen}`);
  process.exit(2);
}
if (indexWhen === 'before') await run(createIndex);

const insConcepts = 'UNWIND $rows AS r CREATE (:Concept {id: r.id, attr: r.attr, text: r.text, vec: r.vec})';
const insAssocs = 'UNWIND $rows AS r MATCH (a:Concept {id: r.s}), (b:Concept {id: r.t}) ' +
  'CREATE (a)-[:Assoc {type: r.type, conf: r.conf, w: r.w}]->(b)';
const copyFiles = {
  concepts: path.join(path.dirname(path.resolve(dbDir)), 'copy_concepts.csv'),
  assocs: path.join(path.dirname(path.resolve(dbDir)), 'copy_assocs.csv'),
};
let t0 = now();
for (let first = 0; first < concepts.length; first += 1000) {
  const batch = concepts.slice(first, first + 1000);
  const edges = [];
  for (let i = first; i < first + batch.length; ++i) {
    for (const a of byLater[i]) {
      const conf = Number(a[3]);
      edges.push({ s: a[0], t: a[1], type: a[2], conf, w: -Math.log(conf * DECAY) });
    }
  }
  if (load === 'copy') {
    // Kuzu reads an array column from a field written as [x,y,...].
    fs.writeFileSync(copyFiles.concepts,
      batch.map((c) => `${c[0]}\t${c[1]}\t${c[2]}\t[${c[3]}]\n`).join(''));
    await run(`COPY Concept FROM '${copyFiles.concepts}' (DELIM='\t', HEADER=false)`);
    if (edges.length) {
      fs.writeFileSync(copyFiles.assocs,
        edges.map((e) => `${e.s}\t${e.t}\t${e.type}\t${e.conf}\t${e.w}\n`).join(''));
      await run(`COPY Assoc FROM '${copyFiles.assocs}' (DELIM='\t', HEADER=false)`);
    }
    continue;
  }
  const rows = batch.map((c) => ({ id: c[0], attr: c[1], text: c[2], vec: vec(c[3]) }));
  await run('BEGIN TRANSACTION');
  await run(insConcepts, { rows });
  if (edges.length) await run(insAssocs, { rows: edges });
  await run('COMMIT');
}
const ingestS = now() - t0;
console.error(`kuzu: ingest with load=${load}, index=${indexWhen}`);
row('ingest', 'concepts_per_s', concepts.length / ingestS);
row('ingest', 'seconds', ingestS);
if (indexWhen === 'after') await run(createIndex);
row('ingest+index', 'seconds', now() - t0);

const medianQps = async (ops, pass) => {
  const qps = [];
  for (let r = 0; r < reps; ++r) {
    const t = now();
    await pass();
    qps.push(ops / (now() - t));
  }
  return median(qps);
};

await run(`CALL PROJECT_GRAPH('f', {'Concept': 'n.attr = "${filterAttr}"'}, [])`);
for (const filtered of [false, true]) {
  for (const ef of efs) {
    const q = `CALL QUERY_VECTOR_INDEX('${filtered ? 'f' : 'Concept'}', 'vidx', $q, 10, efs := ${ef}) RETURN node.id AS id, distance`;
    let rec = 0;
    for (let i = 0; i < nq; ++i) {
      const want = new Set(truth[(filtered ? nq : 0) + i]);
      const got = await all(q, { q: queries[i] });
      rec += got.filter((r) => want.has(r.id)).length / want.size;
    }
    const qps = await medianQps(nq, async () => { for (const v of queries) await all(q, { q: v }); });
    const r = `${filtered ? 'filtered_knn' : 'knn'} ef=${ef}`;
    row(r, 'recall@10', rec / nq);
    row(r, 'qps', qps);
  }
}

const nbQ = 'MATCH (a:Concept {id: $id})-[e:Assoc]-(b:Concept) RETURN b.id, b.text, e.conf ORDER BY e.conf DESC LIMIT 50';
let nsum = 0;
for (const s of seeds) nsum += (await all(nbQ, { id: s })).length;
row('neighbors', 'mean_results', nsum / seeds.length);
row('neighbors', 'qps', await medianQps(seeds.length, async () => { for (const s of seeds) await all(nbQ, { id: s }); }));

const pathQueries = {
  shortest_path: 'MATCH (a:Concept)-[e:Assoc* SHORTEST 1..6]-(b:Concept) WHERE a.id = $s AND b.id = $t ' +
    'RETURN size(rels(e)) AS hops, properties(rels(e), \'w\') AS ws',
  best_path: 'MATCH (a:Concept)-[e:Assoc* WSHORTEST(w)]-(b:Concept) WHERE a.id = $s AND b.id = $t ' +
    'RETURN size(rels(e)) AS hops, cost(e) AS cost',
};
for (const [name, q] of Object.entries(pathQueries)) {
  let found = 0;
  let hops = 0;
  const lines = [];
  for (const [s, t] of pairs) {
    const r = await all(q, { s, t });
    if (!r.length) { lines.push(`${s}\t${t}\t-\t-`); continue; }
    ++found;
    hops += r[0].hops;
    const cost = name === 'best_path' ? r[0].cost : r[0].ws.reduce((x, y) => x + y, 0);
    lines.push(`${s}\t${t}\t${r[0].hops}\t${cost.toFixed(6)}`);
  }
  fs.writeFileSync(path.join(path.dirname(path.resolve(dbDir)), `kuzu_${name}.tsv`), lines.join('\n') + '\n');
  row(name, 'found', found);
  row(name, 'mean_hops', found ? hops / found : 0);
  row(name, 'qps', await medianQps(pairs.length, async () => { for (const [s, t] of pairs) await all(q, { s, t }); }));
}
