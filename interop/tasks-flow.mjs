// The official TypeScript MCP SDK's task client (experimental tasks API) through Conexor's
// gate to a task-running upstream (tasks-upstream.mjs): caller A runs a tool as a task and
// gets its result, polls and lists it; caller B, another client with the same scopes, gets
// the specification's "task not found" for A's task from every tasks/* method and a list
// without it; A's token without mcp:tools:execute is refused.
//
// Environment: MCP_URL (the gated endpoint), TOKEN_A, TOKEN_B, TOKEN_A_READ (A's token with
// mcp:tools:read only). The last line on stdout is a JSON summary; exit status 0 means every
// check passed.
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
};
const MCP_URL = new URL(env('MCP_URL'));
const log = (...a) => console.error('[tasks-flow]', ...a);
const summary = {};

const connect = async (token) => {
    const client = new Client({ name: 'conexor-tasks-interop', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(MCP_URL, {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }));
    return client;
};

// runTask calls the tool as a task and returns its ID and final text.
const runTask = async (client, topic) => {
    let taskId, text;
    const stream = client.experimental.tasks.callToolStream(
        { name: 'report', arguments: { topic } }, CallToolResultSchema, { task: { ttl: 60000 } });
    for await (const msg of stream) {
        if (msg.type === 'taskCreated') taskId = msg.task.taskId;
        if (msg.type === 'result') text = msg.result.content[0].text;
        if (msg.type === 'error') throw msg.error;
    }
    return { taskId, text };
};

const notFound = async (what, p) => {
    await assert.rejects(p, (err) => {
        assert.equal(err.code, -32602, `${what}: code ${err.code} (${err.message})`);
        assert.match(err.message, /Task not found/, what);
        return true;
    }, `${what} succeeded`);
};

const a = await connect(env('TOKEN_A'));
const b = await connect(env('TOKEN_B'));
assert.ok(a.getServerCapabilities()?.tasks?.requests?.tools?.call, 'the upstream declares task-augmented tools/call');

const ta = await runTask(a, 'sales');
assert.ok(ta.taskId, 'A: no taskCreated');
assert.equal(ta.text, 'report on sales');
summary.createdThroughGate = true;
log('A ran task', ta.taskId);

const got = await a.experimental.tasks.getTask(ta.taskId);
assert.equal(got.status, 'completed');
const res = await a.experimental.tasks.getTaskResult(ta.taskId, CallToolResultSchema);
assert.equal(res.content[0].text, 'report on sales');
summary.ownerGetAndResult = true;

const tb = await runTask(b, 'costs');
log('B ran task', tb.taskId);
await notFound("B's tasks/get of A's task", b.experimental.tasks.getTask(ta.taskId));
await notFound("B's tasks/result of A's task", b.experimental.tasks.getTaskResult(ta.taskId, CallToolResultSchema));
await notFound("B's tasks/cancel of A's task", b.experimental.tasks.cancelTask(ta.taskId));
summary.othersNotFound = true;

const ids = async (client) => (await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);
assert.deepEqual(await ids(a), [ta.taskId], "A's tasks/list");
assert.deepEqual(await ids(b), [tb.taskId], "B's tasks/list");
summary.listsFiltered = true;

const ro = await connect(env('TOKEN_A_READ'));
await assert.rejects(ro.experimental.tasks.getTask(ta.taskId), (err) => {
    // The SDK's StreamableHTTPError carries the HTTP status as its code.
    assert.equal(err.code, 403, `A read-only: ${err.message}`);
    assert.match(String(err.message), /mcp:tools:execute/, `A read-only: ${err.message}`);
    return true;
}, "A's read-only token got its task");
summary.scopeFollowsCreatingCall = true;

await Promise.all([a.close(), b.close(), ro.close()]);
summary.ok = true;
console.log(JSON.stringify(summary));
