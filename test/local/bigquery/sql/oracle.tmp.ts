import { ReferenceEvaluator } from "./reference-evaluator.js";
const o = await ReferenceEvaluator.start();
for (const e of process.argv.slice(2)) {
  try {
    console.log(e, "=>", JSON.stringify(await o.evaluate(e)));
  } catch (err) {
    console.log(e, "ERR", (err as Error).message);
  }
}
await o.stop();
