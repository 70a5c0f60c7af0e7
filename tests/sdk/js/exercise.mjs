// Drive every imports method of exa-js against the emulator; print {"version", "exercised"} as JSON.
//
//   node exercise.mjs BASE_URL API_KEY [correct|keep|reject]
//
// The last argument is the emulator's --declared-count choice. exa-js declares the count of non-blank
// lines minus the header, so a quoted newline makes it one more than the records the service parses:
// under `correct` the import completes with the parsed count, under `keep` with exa-js's, and under
// `reject` it fails. Run by tests/sdk/test_exa_js.py; exits non-zero at the first surprise.
import { readFileSync } from "node:fs";
import Exa from "exa-js";

const [baseUrl, apiKey, declaredCount = "correct"] = process.argv.slice(2);
const imports = new Exa(apiKey, baseUrl).websets.imports;
const exercised = new Set();
// Three records; exa-js counts four (the quoted newline splits a line).
const CSV = 'url,name\nhttps://a.example,A\n"https://b.example","B\nsecond line"\nhttps://c.example,C\n';
const PARAMS = { format: "csv", entity: { type: "company" }, csv: { identifier: 0 } };

function check(condition, what) {
  if (!condition) {
    console.error(`exa-js against the emulator: ${what}`);
    process.exit(1);
  }
}

async function call(name, promise) {
  exercised.add(name);
  return await promise;
}

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return null;
}

const uploaded = await call("create(csv)", imports.create({ ...PARAMS, title: "with data", metadata: { team: "a" } }, CSV));
check(uploaded.status === "pending" && uploaded.uploadUrl.startsWith(baseUrl), `created: ${JSON.stringify(uploaded)}`);
check(uploaded.count === 4, `exa-js declared ${uploaded.count} records`);
const waiting = imports.waitUntilCompleted(uploaded.id, { pollInterval: 10, timeout: 10000 });
if (declaredCount === "reject") {
  const error = await call("waitUntilCompleted", failure(waiting));
  check(error?.message.includes("declared count 4 but the file has 3 records"), `a rejected count: ${error}`);
} else {
  const done = await call("waitUntilCompleted", waiting);
  const expected = declaredCount === "keep" ? 4 : 3;
  check(done.status === "completed" && done.count === expected, `completed: ${JSON.stringify(done)}`);
}

const size = Buffer.byteLength(CSV);
const manual = await call("create", imports.create({ ...PARAMS, title: "by hand", size, count: 3 }));
check(manual.status === "pending" && manual.uploadValidUntil, `created: ${JSON.stringify(manual)}`);
const put = await fetch(manual.uploadUrl, { method: "PUT", body: CSV, headers: { "Content-Type": "text/csv" } });
check(put.status === 200, `upload: ${put.status}`);

const got = await call("get", imports.get(manual.id));
check(got.id === manual.id && got.title === "by hand" && got.entity.type === "company", `get: ${JSON.stringify(got)}`);

const seen = [];
let cursor;
for (;;) {
  const page = await call("list", imports.list({ limit: 1, cursor }));
  seen.push(...page.data.map((item) => item.id));
  if (!page.hasMore) {
    check(page.nextCursor === null, "the last page has a next cursor");
    break;
  }
  cursor = page.nextCursor;
}
check(seen[0] === manual.id && seen[1] === uploaded.id && new Set(seen).size === seen.length, `list: ${seen}`);

const every = [];
for await (const item of imports.listAll({ limit: 1 })) every.push(item.id);
exercised.add("listAll");
check(JSON.stringify(every) === JSON.stringify(seen), `listAll: ${every}`);
const collected = await call("getAll", imports.getAll({ limit: 2 }));
check(JSON.stringify(collected.map((item) => item.id)) === JSON.stringify(seen), "getAll");

const updated = await call("update", imports.update(manual.id, { title: "renamed", metadata: { team: "b" } }));
check(updated.title === "renamed" && JSON.stringify(updated.metadata) === '{"team":"b"}', `update: ${JSON.stringify(updated)}`);

for (const id of [manual.id, uploaded.id]) {
  const deleted = await call("delete", imports.delete(id));
  check(deleted.id === id, `delete answered ${deleted.id}`);
  const gone = await failure(imports.get(id));
  check(gone?.statusCode === 404 && gone.code === "not_found" && gone.requestId?.startsWith("req_"), `after delete: ${gone}`);
}

const bad = await failure(imports.create({ ...PARAMS, entity: { type: "compnay" }, size: 10, count: 1 }));
check(bad?.statusCode === 400 && bad.detail?.field === "entity.type" && bad.requestId?.startsWith("req_"), `a bad create: ${bad}`);

const version = JSON.parse(readFileSync(new URL("./node_modules/exa-js/package.json", import.meta.url))).version;
console.log(JSON.stringify({ version, exercised: [...exercised].sort() }));
