// @duckdb/node-api decodes every VARCHAR with one shared `new TextDecoder()`,
// which drops a leading byte-order mark: a STRING value starting with U+FEFF
// would come back shortened. BigQuery keeps it, so the local BigQuery swaps in
// a decoder that keeps it too (both call sites read the shared export).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const accessors = require("@duckdb/node-api/lib/vectors/dataAccessors.js") as { textDecoder: TextDecoder };
accessors.textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
