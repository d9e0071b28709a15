#!/usr/bin/env node
// Engram from Node.js over gRPC (engram.v1.Engram), end to end.
//
// Creates a namespace, learns a batch of facts, lists the learned concepts page by page, searches,
// streams a reasoning (seeds and paths as they are found, then the answer), exports the namespace
// and deletes it. Every step checks its result: the script exits 1 with "FAIL: ..." on any mismatch.
//
// The proto is loaded at run time from the repository (no generated code):
//   cd clients/node && npm ci --no-audit --no-fund --ignore-scripts
//   node engram_example.mjs --addr 127.0.0.1:50051 --api_key "$ENGRAM_API_KEY"
// The key needs the admin role (it creates and deletes a namespace).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

// Each fact is one concept. Relations stated in a fact ("X is a Y", "X leads to Y") also become
// concepts of their own ("deforestation", "soil erosion") joined by typed associations.
const FACTS = [
  'A whale is a mammal',
  'A dolphin is a mammal',
  'A mammal is an animal',
  'Whales eat krill',
  'Krill is part of plankton',
  'Heavy rain causes floods',
  'Floods damage houses',
  'Deforestation leads to soil erosion',
  'Soil erosion results in poorer harvests',
  'The caterpillar becomes a chrysalis before it becomes a butterfly',
  'A butterfly is an insect',
  'Bees pollinate flowers',
];
const SEARCH_QUERY = 'caterpillar chrysalis';
const SEARCH_EXPECTED = 'The caterpillar becomes a chrysalis before it becomes a butterfly';
const QUESTION = 'What does deforestation lead to?';
const ANSWER_EXPECTED = 'soil erosion';
const PAGE_SIZE = 5; // small on purpose: the 12 facts take 3 pages
const TIMEOUT_MS = 30_000; // deadline of each call

class Mismatch extends Error {}
function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

const { values: args } = parseArgs({
  options: {
    addr: { type: 'string', default: process.env.ENGRAM_ADDR || '127.0.0.1:50051' },
    api_key: { type: 'string', default: process.env.ENGRAM_API_KEY || '' },
    // PEM CA that signed engram-api's certificate: connect with TLS (default plaintext).
    ca_file: { type: 'string', default: process.env.ENGRAM_CA_FILE || '' },
    namespace: { type: 'string', default: `example-node-${process.pid}-${Date.now()}` },
    proto_dir: { type: 'string', // the repository's proto/ directory
      default: path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto') },
  },
});

// proto-loader options: JSON-like names (pageSize), enums as names, uint64 as Number (the counts
// here are small; use String for values past 2^53), unset fields as defaults, and `event`
// naming the set member of ReasonEvent's oneof.
const definition = protoLoader.loadSync('engram/v1/engram.proto', {
  includeDirs: [args.proto_dir, '/usr/include'], // /usr/include: google/protobuf/*.proto
  keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true,
});
const { Engram } = grpc.loadPackageDefinition(definition).engram.v1;

// Every call carries the key as metadata "authorization: Bearer <key>".
const auth = new grpc.Metadata();
auth.add('authorization', `Bearer ${args.api_key}`);
// TLS verifying engram-api against --ca_file (createSsl() with no argument: the system's CAs).
const credentials = args.ca_file
  ? grpc.credentials.createSsl(fs.readFileSync(args.ca_file))
  : grpc.credentials.createInsecure();
const client = new Engram(args.addr, credentials);
const options = () => ({ deadline: Date.now() + TIMEOUT_MS });
// A unary call as a promise.
const call = (method, request) => new Promise((resolve, reject) =>
  client[method](request, auth, options(), (err, response) => (err ? reject(err) : resolve(response))));

async function run(ns) {
  const tag = { example: ns }; // marks the facts learned here (the listing filters on it)

  // LearnBatch: all or nothing; one result per item, in order.
  const learned = await call('LearnBatch', {
    namespace: ns, concepts: FACTS.map((content) => ({ content, attributes: tag })),
  });
  const learnedIds = learned.results.map((r) => r.id);
  const created = learned.results.filter((r) => r.created).length;
  check(learnedIds.length === FACTS.length && created === FACTS.length,
    `LearnBatch created ${created} of ${FACTS.length} concepts`);
  check(learned.associationsCreated > 0, 'LearnBatch created no associations');
  console.log(`learned ${learnedIds.length} facts, ${learned.associationsCreated} associations`);

  // ListConcepts, page by page, only the concepts carrying our attribute.
  const listed = [];
  let pages = 0;
  let pageToken = '';
  do {
    const page = await call('ListConcepts', {
      namespace: ns, pageSize: PAGE_SIZE, pageToken, attribute: [`example:${ns}`],
    });
    pages += 1;
    listed.push(...page.concepts.map((c) => c.id));
    console.log(`  page ${pages}: ${page.concepts.length} concepts`);
    pageToken = page.nextPageToken;
  } while (pageToken);
  check(pages >= 2, `ListConcepts gave ${pages} page(s) for ${FACTS.length} concepts at pageSize ${PAGE_SIZE}`);
  check(new Set(listed).size === listed.length, 'ListConcepts listed a concept twice');
  check(JSON.stringify([...listed].sort()) === JSON.stringify([...learnedIds].sort()),
    `ListConcepts listed ${listed.length} concepts, expected the ${learnedIds.length} learned`);
  console.log(`listed ${listed.length} concepts in ${pages} pages`);

  // Search: the best hit of a distinctive query is the fact it describes.
  const found = await call('Search', { namespace: ns, query: SEARCH_QUERY, k: 3 });
  check(found.results.length > 0, 'Search found nothing');
  const top = found.results[0];
  check(top.content === SEARCH_EXPECTED, `Search's first hit is "${top.content}", expected "${SEARCH_EXPECTED}"`);
  console.log(`search "${SEARCH_QUERY}": "${top.content}" (score ${top.score.toFixed(3)})`);

  // ReasonStream: one seeds event, then each path as it is found, then the answer (last).
  // A failed stream throws from the loop with its status.
  const kinds = [];
  let answer = null;
  for await (const event of client.ReasonStream({ namespace: ns, query: QUESTION }, auth, options())) {
    kinds.push(event.event);
    if (event.event === 'seeds') {
      console.log(`  seeds: ${event.seeds.support.slice(0, 3).map((s) => s.content).join(', ')}, ...`);
    } else if (event.event === 'path') {
      console.log(`  path:  ${event.path.concepts.map((c) => c.content).join(' -> ')}`);
    } else if (event.event === 'answer') {
      answer = event.answer;
    }
  }
  check(kinds[0] === 'seeds' && kinds.filter((k) => k === 'seeds').length === 1,
    `ReasonStream events ${kinds}: expected one seeds first`);
  check(kinds.at(-1) === 'answer' && kinds.filter((k) => k === 'answer').length === 1,
    `ReasonStream did not end with one answer: ${kinds}`);
  check(answer.confident && answer.answer?.content === ANSWER_EXPECTED,
    `ReasonStream answered "${answer.answer?.content}" (confident=${answer.confident}), expected "${ANSWER_EXPECTED}"`);
  console.log(`reason "${QUESTION}": ${answer.answer.content} (confidence ${answer.confidence.final.toFixed(2)}, ` +
    `${kinds.filter((k) => k === 'path').length} paths streamed)\n  ${answer.explanation}`);

  // ExportNamespace: the namespace first, then chunks of concepts, then chunks of associations.
  let header = null;
  const concepts = [];
  const associations = [];
  for await (const chunk of client.ExportNamespace({ namespace: ns }, auth, options())) {
    if (chunk.namespace) header = chunk.namespace;
    concepts.push(...chunk.concepts);
    associations.push(...chunk.associations);
  }
  const exportedIds = new Set(concepts.map((c) => c.id));
  console.log(`exported ${concepts.length} concepts (${FACTS.length} facts + the concepts their relations ` +
    `name), ${associations.length} associations`);
  const info = await call('GetNamespace', { namespace: ns });
  const stats = await call('GetStats', {});
  check(header?.name === ns, 'the export did not start with its namespace');
  check(exportedIds.size === concepts.length, 'the export holds a concept twice');
  check(learnedIds.every((id) => exportedIds.has(id)), 'the export lacks a learned concept');
  check(concepts.length === info.conceptCount && concepts.length === header.conceptCount,
    `exported ${concepts.length} concepts, the namespace has ${info.conceptCount}`);
  check(associations.length === info.associationCount && associations.length === learned.associationsCreated,
    `exported ${associations.length} associations, the namespace has ${info.associationCount}, ` +
    `LearnBatch created ${learned.associationsCreated}`);
  // GetStats counts every namespace of the suite: at least this one's.
  check(stats.concepts >= concepts.length && stats.associations >= associations.length,
    `GetStats counts ${stats.concepts} concepts, ${stats.associations} associations: fewer than exported`);
  console.log(`stats: ${stats.concepts} concepts, ${stats.associations} associations in ${stats.namespaces} namespaces`);
}

async function main() {
  check(args.api_key, 'no API key: pass --api_key or set ENGRAM_API_KEY');
  const ns = args.namespace;
  await new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + TIMEOUT_MS, (err) => (err ? reject(err) : resolve())));
  await call('CreateNamespace', { name: ns });
  console.log(`created namespace ${ns} at ${args.addr}`);
  try {
    await run(ns);
  } finally {
    await call('DeleteNamespace', { namespace: ns });
  }
  const gone = await call('GetNamespace', { namespace: ns }).then(() => null, (err) => err);
  check(gone?.code === grpc.status.NOT_FOUND, `GetNamespace after delete: ${gone ? grpc.status[gone.code] : 'OK'}`);
  console.log(`deleted namespace ${ns}\nOK`);
}

main().then(() => client.close(), (err) => {
  // A mismatch, or a failed call: its status code and message.
  const why = err instanceof Mismatch ? err.message
    : err.code !== undefined ? `${grpc.status[err.code]}: ${err.details}` : String(err?.stack ?? err);
  console.error(`FAIL: ${why}`);
  client.close();
  process.exit(1);
});
