"use strict";
// The Node side of tests/integration/ews_js: one process serves every scenario of a test module.
//
// stdin: one JSON request a line, {"id": n, "scenario": "group.name", "args": {...}}.
// stdout: one JSON answer a line, {"id": n, "ok": true, "result": {...}} or {"id": n, "ok": false,
// "error": {"message", "stack"}}. A scenario's result is what the server said, as plain data.
// Anything else a scenario or the library prints goes to stderr, so stdout stays one answer a line.

const readline = require("readline");

const out = process.stdout.write.bind(process.stdout);
console.log = (...parts) => process.stderr.write(parts.map(String).join(" ") + "\n");
console.info = console.log;

const GROUPS = ["autodiscover", "availability", "delegation", "directory", "meetings", "notifications",
  "properties", "versions"];
const scenarios = {};
for (const group of GROUPS) {
  for (const [name, run] of Object.entries(require(`./scenarios/${group}.js`))) {
    scenarios[`${group}.${name}`] = run;
  }
}

async function answer(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    return { id: null, ok: false, error: { message: `not JSON: ${line.slice(0, 200)}` } };
  }
  const run = scenarios[request.scenario];
  if (!run) {
    return { id: request.id, ok: false, error: { message: `no scenario ${request.scenario}` } };
  }
  try {
    return { id: request.id, ok: true, result: await run(request.args || {}) };
  } catch (error) {
    const message = error && (error.message || (error.status ? `HTTP ${error.status}` : String(error)));
    return { id: request.id, ok: false, error: { message, stack: error && error.stack } };
  }
}

const input = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
input.on("line", (line) => {
  if (!line.trim()) return;
  // One scenario at a time, in order: the simulator's state is the test's.
  queue = queue.then(async () => out(JSON.stringify(await answer(line)) + "\n"));
});
input.on("close", () => queue.then(() => process.exit(0)));
out(JSON.stringify({ id: 0, ok: true, result: { ready: Object.keys(scenarios).sort() } }) + "\n");
