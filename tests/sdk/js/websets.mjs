// Read the emulator's websets with exa-js (list page by page, listAll, get); print what came through as JSON.
//
//   node websets.mjs BASE_URL API_KEY
//
// exa-js does not parse its answers: this checks that it reaches the routes and hands over the references
// to imports as the emulator sent them. Run by tests/sdk/test_websets.py; exits non-zero at the first surprise.
import { readFileSync } from "node:fs";
import Exa from "exa-js";

const [baseUrl, apiKey] = process.argv.slice(2);
const websets = new Exa(apiKey, baseUrl).websets;

function check(condition, what) {
  if (!condition) {
    console.error(`exa-js reading the emulator's websets: ${what}`);
    process.exit(1);
  }
}

const references = (webset) => ({
  id: webset.id,
  title: webset.title,
  dashboardUrl: webset.dashboardUrl,
  imports: webset.imports.map((item) => item.id),
  excludes: webset.excludes.map((item) => [item.source, item.id]),
  scope: webset.searches.flatMap((search) => search.scope.map((item) => [item.source, item.id])),
  searchExclude: webset.searches.flatMap((search) => search.exclude.map((item) => [item.source, item.id])),
});

const listed = [];
let cursor;
for (;;) {
  const page = await websets.list({ limit: 1, cursor });
  listed.push(...page.data);
  if (!page.hasMore) {
    check(page.nextCursor === null, "the last page has a next cursor");
    break;
  }
  cursor = page.nextCursor;
}
const every = [];
for await (const webset of websets.listAll({ limit: 2 })) every.push(webset.id);
check(JSON.stringify(every) === JSON.stringify(listed.map((w) => w.id)), `listAll: ${every}`);
const got = [];
for (const webset of listed) got.push(references(await websets.get(webset.id)));
check(JSON.stringify(got) === JSON.stringify(listed.map(references)), "get differs from list");

const version = JSON.parse(readFileSync(new URL("./node_modules/exa-js/package.json", import.meta.url))).version;
console.log(JSON.stringify({ version, exercised: ["get", "list", "listAll"], websets: got }));
