// The official TypeScript MCP SDK (pinned in package.json) as an outside
// client of `kitaru mcp`: it lists the tools (parsing every schema), calls
// each kind of tool against a kitaru dev, and Ajv (pinned) validates every
// structured result against the tool's output schema.
//
// scripts/clients.sh runs it (make clients) with KITARU_BIN and the
// connection of a fresh `kitaru dev --memory` in the environment:
// KITARU_SERVER_URL, KITARU_AUTH_TOKEN, KITARU_PROJECT, KITARU_CONFIG_DIR.

import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Ajv2020 from "ajv/dist/2020.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");

for (const name of ["KITARU_BIN", "KITARU_SERVER_URL", "KITARU_AUTH_TOKEN", "KITARU_PROJECT"]) {
  if (!process.env[name]) {
    throw new Error(`${name} is not set: run this through scripts/clients.sh (make clients), which starts kitaru dev`);
  }
}

// MCP tool schemas are JSON Schema 2020-12 unless they say otherwise.
const ajv = new Ajv2020({ allErrors: true, strict: true });

let client;
let work;
const tools = new Map(); // name → the tool as listed
let stderr = "";

before(async () => {
  work = mkdtempSync(join(tmpdir(), "kitaru-clients-"));
  for (const project of ["research", "behaviours"]) {
    cpSync(join(repo, "testdata", "flows", project), join(work, project), { recursive: true });
  }
  const transport = new StdioClientTransport({
    command: process.env.KITARU_BIN,
    args: ["mcp"],
    env: { ...process.env },
    cwd: work,
    stderr: "pipe",
  });
  transport.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  client = new Client({ name: "kitaru-clients-test", version: "1.0.0" });
  await client.connect(transport);
});

after(async () => {
  await client?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// call calls a tool that must succeed, checks its structured result against
// the tool's output schema with Ajv, and returns the result.
async function call(name, args) {
  const res = await client.callTool({ name, arguments: args });
  assert.ok(!res.isError, `${name}(${JSON.stringify(args)}) is a tool error: ${textOf(res)}\nkitaru mcp stderr:\n${stderr}`);
  assert.ok(res.structuredContent, `${name} answered no structuredContent`);
  const tool = tools.get(name);
  assert.ok(tool?.outputSchema, `${name} was not listed with an output schema`);
  const validate = ajv.compile(tool.outputSchema);
  assert.ok(
    validate(res.structuredContent),
    `${name}: the structured result does not fit the output schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.structuredContent)}`,
  );
  return res.structuredContent;
}

// callFails calls a tool that must answer a tool error whose text is the
// API's error envelope, and returns the envelope's error.
async function callFails(name, args) {
  const res = await client.callTool({ name, arguments: args });
  assert.equal(res.isError, true, `${name}(${JSON.stringify(args)}) succeeded: ${textOf(res)}`);
  let envelope;
  assert.doesNotThrow(() => {
    envelope = JSON.parse(textOf(res));
  }, `the tool error ${textOf(res)} is not JSON`);
  assert.equal(typeof envelope?.error?.code, "string", `no error.code in ${textOf(res)}`);
  assert.equal(typeof envelope.error.message, "string", `no error.message in ${textOf(res)}`);
  return envelope.error;
}

function textOf(res) {
  return (res.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
}

test("the tools and every schema they are listed with parse", async () => {
  const { tools: listed } = await client.listTools();
  for (const tool of listed) tools.set(tool.name, tool);
  assert.deepEqual([...tools.keys()].sort(), [
    "kitaru_deployments_build",
    "kitaru_deployments_delete",
    "kitaru_deployments_deploy",
    "kitaru_deployments_get",
    "kitaru_deployments_history",
    "kitaru_deployments_invoke",
    "kitaru_deployments_list",
    "kitaru_deployments_tag",
    "kitaru_deployments_untag",
    "kitaru_executions_cancel",
    "kitaru_executions_get",
    "kitaru_executions_list",
    "kitaru_executions_logs",
    "kitaru_executions_wait",
    "kitaru_flows_delete",
    "kitaru_flows_diff",
    "kitaru_flows_prune",
    "kitaru_flows_status",
  ]);
  for (const tool of listed) {
    assert.equal(tool.inputSchema.type, "object", `${tool.name}'s input schema`);
    assert.doesNotThrow(() => ajv.compile(tool.inputSchema), `${tool.name}'s input schema does not compile`);
    assert.doesNotThrow(() => ajv.compile(tool.outputSchema), `${tool.name}'s output schema does not compile`);
  }
});

test("a producer deploys, routes and inspects; a consumer invokes and follows", async (t) => {
  let research;
  await t.test("deploy the research flow from source: version 1 gets default", async () => {
    research = await call("kitaru_deployments_deploy", {
      target: join(work, "research", "flows", "research.py") + ":research_agent",
      inputs: { topic: "durable agents" },
    });
    assert.equal(research.flow, "research_agent");
    assert.deepEqual(research.tags, { default: true });
    assert.deepEqual(research.inputs, { topic: "durable agents" });
  });
  await t.test("deploy a flow that sleeps, with a relative target", async () => {
    const d = await call("kitaru_deployments_deploy", {
      target: "behaviours/flows/behaviours.py:sleeps",
      inputs: { seconds: 30 },
    });
    assert.equal(d.flow, "sleeps");
  });
  await t.test("deploy a canary of the research flow", async () => {
    const d = await call("kitaru_deployments_deploy", {
      target: join(work, "research", "flows", "research.py") + ":research_agent",
      inputs: { topic: "durable agents" },
      tag: "canary",
      exclusive: true,
    });
    assert.equal(d.version, research.version + 1);
  });
  await t.test("list the flows with their routes", async () => {
    const page = await call("kitaru_deployments_list", {});
    const byFlow = Object.fromEntries(page.items.map((f) => [f.flow, f]));
    assert.deepEqual(Object.keys(byFlow).sort(), ["research_agent", "sleeps"]);
    assert.equal(byFlow.research_agent.default_version, research.version);
    assert.deepEqual(byFlow.research_agent.exclusive_tags, ["canary", "default"]);
  });
  await t.test("list the research flow's versions, newest first", async () => {
    const page = await call("kitaru_deployments_list", { flow: "research_agent" });
    assert.deepEqual(
      page.items.map((d) => [d.version, d.tags]),
      [
        [research.version + 1, { canary: true }],
        [research.version, { default: true }],
      ],
    );
  });
  await t.test("get resolves default without a selector", async () => {
    const r = await call("kitaru_deployments_get", { flow: "research_agent" });
    assert.deepEqual(r.selector, { tag: "default" });
    assert.equal(r.deployment.version, research.version);
  });
  await t.test("tag moves stable to the canary, and history records it", async () => {
    const tag = await call("kitaru_deployments_tag", { flow: "research_agent", tag: "stable", version: research.version + 1, exclusive: true });
    assert.deepEqual(tag.versions, [research.version + 1]);
    assert.equal(tag.exclusive, true);
    const h = await call("kitaru_deployments_history", { flow: "research_agent", tag: "stable" });
    assert.equal(h.items.length, 1);
    assert.equal(h.items[0].from, null); // stable pointed nowhere before
    assert.equal(h.items[0].to, research.version + 1);
  });
  await t.test("moving default off version 1 leaves it without tags ({}), and delete removes it", async () => {
    await call("kitaru_deployments_tag", { flow: "research_agent", tag: "default", version: research.version + 1, exclusive: true });
    const r = await call("kitaru_deployments_get", { flow: "research_agent", version: research.version });
    assert.deepEqual(r.deployment.tags, {});
    const del = await call("kitaru_deployments_delete", { flow: "research_agent", version: research.version });
    assert.equal(del.deleted, true);
  });
  await t.test("untag removes a shared label", async () => {
    await call("kitaru_deployments_tag", { flow: "research_agent", tag: "benchmark", version: research.version + 1 });
    const u = await call("kitaru_deployments_untag", { flow: "research_agent", tag: "benchmark", version: research.version + 1 });
    assert.equal(u.removed, true);
  });
  await t.test("build saves the next version with no tag, and default stays put", async () => {
    const b = await call("kitaru_deployments_build", {
      target: join(work, "research", "flows", "research.py") + ":research_agent",
      inputs: { topic: "staged" },
      description: "staged build",
    });
    assert.equal(b.version, research.version + 2);
    assert.deepEqual(b.tags, {});
    const r = await call("kitaru_deployments_get", { flow: "research_agent" });
    assert.equal(r.deployment.version, research.version + 1);
  });
  await t.test("diff compares stable with the build: the topic changed, the bundle is the same", async () => {
    const d = await call("kitaru_flows_diff", { flow: "research_agent", from: "stable", to: String(research.version + 2) });
    assert.equal(d.from.version, research.version + 1);
    assert.equal(d.from.tag, "stable");
    assert.equal(d.identical, false);
    assert.deepEqual(d.inputs, [{ key: "topic", change: "modified", before: "durable agents", after: "staged" }]);
    assert.equal(d.source.same_bundle, true);
    const e = await callFails("kitaru_flows_diff", { flow: "research_agent", from: "stable", to: "nightly" });
    assert.equal(e.details.reason, "tag_not_found");
  });
  let done;
  await t.test("invoke stable and wait for the result", async () => {
    done = await call("kitaru_deployments_invoke", {
      flow: "research_agent",
      tag: "stable",
      inputs: { topic: "deployment routing" },
      wait_seconds: 60,
    });
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.equal(done.result, "research notes on deployment routing");
  });
  await t.test("executions get reads the finished execution", async () => {
    const e = await call("kitaru_executions_get", { exec_id: done.exec_id });
    assert.equal(e.status, "completed");
    assert.equal(e.version, research.version + 1);
  });
  await t.test("executions logs reads the finished execution's whole log", async () => {
    const log = await call("kitaru_executions_logs", { exec_id: done.exec_id });
    assert.equal(log.ended, true, JSON.stringify(log));
    assert.match(log.data, /^\[kitaru\] running research_agent v\d+ /);
    assert.match(log.data, /\[kitaru\] completed in [0-9.]+ s\n$/);
  });
  await t.test("invoke a long flow with a short wait, then cancel it", async () => {
    const running = await call("kitaru_deployments_invoke", { flow: "sleeps", wait_seconds: 1 });
    assert.equal(running.status, "running");
    const cancelled = await call("kitaru_executions_cancel", { exec_id: running.exec_id });
    assert.equal(cancelled.status, "cancelled");
  });
  await t.test("executions list by tag and status, and wait on one", async () => {
    const page = await call("kitaru_executions_list", { flow: "research_agent", tag: "stable", status: "completed", since: "1h" });
    assert.deepEqual(page.items.map((e) => e.exec_id), [done.exec_id]);
    const e = await call("kitaru_executions_wait", { exec_id: done.exec_id, wait_seconds: 5 });
    assert.equal(e.status, "completed");
  });
  await t.test("flows prune plans with dry_run and keeps every routed version", async () => {
    const plan = await call("kitaru_flows_prune", { flow: "research_agent", keep: 1, dry_run: true });
    assert.equal(plan.dry_run, true);
    for (const k of plan.kept) assert.ok(["routed", "newest", "too_young", "running"].includes(k.reason), k.reason);
    assert.ok(plan.kept.some((k) => k.reason === "routed" && k.tags.includes("default")));
    const e = await callFails("kitaru_flows_prune", { flow: "research_agent", keep: 1, older_than: "a while" });
    assert.equal(e.code, "invalid_argument");
  });
  await t.test("flows delete refuses while stable routes, then deletes with force; executions stay readable", async () => {
    const [cancelled] = (await call("kitaru_executions_list", { flow: "sleeps", status: "cancelled" })).items;
    await call("kitaru_deployments_tag", { flow: "sleeps", tag: "stable", version: 1, exclusive: true });
    const e = await callFails("kitaru_flows_delete", { flow: "sleeps" });
    assert.equal(e.code, "conflict");
    assert.equal(e.details.reason, "flow_has_routes");
    const gone = await call("kitaru_flows_delete", { flow: "sleeps", force: true });
    assert.equal(gone.forced, true);
    assert.deepEqual(gone.tags, { default: [1], stable: [1] });
    assert.equal(gone.next_version, 2);
    const kept = await call("kitaru_executions_get", { exec_id: cancelled.exec_id });
    assert.equal(kept.status, "cancelled");
  });
});

test("failures are tool errors carrying the API's error envelope", async (t) => {
  await t.test("an unknown flow is not_found", async () => {
    const e = await callFails("kitaru_deployments_get", { flow: "no_such_flow" });
    assert.equal(e.code, "not_found");
  });
  await t.test("a tag and a version together are invalid_argument", async () => {
    const e = await callFails("kitaru_deployments_invoke", { flow: "research_agent", tag: "stable", version: 2 });
    assert.equal(e.code, "invalid_argument");
  });
  await t.test("arguments the input schema refuses are invalid_argument naming them", async () => {
    const e = await callFails("kitaru_deployments_invoke", { flow: "research_agent", wait_seconds: 301 });
    assert.equal(e.code, "invalid_argument");
    assert.match(e.message, /"wait_seconds" is 301; send an integer from 0 to 300/);
    assert.deepEqual(e.details, { arguments: ["wait_seconds"] });
  });
  await t.test("a version that holds an exclusive tag cannot be deleted: conflict", async () => {
    const e = await callFails("kitaru_deployments_delete", { flow: "research_agent", version: 2 });
    assert.equal(e.code, "conflict");
  });
});
