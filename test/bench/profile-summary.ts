// Summarises a V8 .cpuprofile (from `npm run bench -- --cpu-prof DIR`): self
// time by function and by file, main thread only (zlib runs on libuv's pool
// and shows up as time the main thread spends elsewhere or idle).
//   npx tsx test/bench/profile-summary.ts DIR/stage-1.cpuprofile [top]
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (!file) throw new Error("usage: profile-summary.ts FILE.cpuprofile [top]");
const top = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const totalUs = profile.endTime - profile.startTime;

function shortUrl(url: string): string {
  const i = url.indexOf("/node_modules/");
  if (i >= 0) return url.slice(i + 1);
  const j = url.search(/\/(functions|test)\//);
  return j >= 0 ? url.slice(j + 1) : url.replace(/^file:\/\//, "");
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const where = shortUrl(f.url) || "(native)";
  const fn = `${f.functionName || "(anonymous)"}  ${where}${f.url ? `:${f.lineNumber + 1}` : ""}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  byFile.set(where, (byFile.get(where) ?? 0) + us);
}

function print(title: string, m: Map<string, number>): void {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(
      `  ${(us / 1e6).toFixed(2).padStart(7)} s  ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${k}`,
    );
  }
}

console.log(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled (main thread)`);
print("self time by function", byFunction);
print("self time by file", byFile);
