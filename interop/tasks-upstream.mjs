// An MCP server written with the official TypeScript SDK that runs a tool as a task (MCP
// 2025-11-25 tasks, the SDK's experimental tasks API with its in-memory task store):
// `report` returns a CreateTaskResult at once and completes in the background. Stateless
// Streamable HTTP on 127.0.0.1, like many deployed servers; it has no authorization
// context, so every task is visible to every request: behind Conexor the gate binds tasks to
// their creator. Prints its endpoint URL as the first line on stdout.
import { createServer } from 'node:http';
import * as z from 'zod/v4';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InMemoryTaskStore, InMemoryTaskMessageQueue } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';

const taskStore = new InMemoryTaskStore();
const taskMessageQueue = new InMemoryTaskMessageQueue();

const newServer = () => {
    const server = new McpServer({ name: 'ts-tasks-upstream', version: '1.0.0' }, {
        capabilities: { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
        taskStore,
        taskMessageQueue,
    });
    server.experimental.tasks.registerToolTask('report', {
        description: 'Builds a report in the background',
        inputSchema: { topic: z.string() },
        execution: { taskSupport: 'optional' },
    }, {
        async createTask({ topic }, { taskStore, taskRequestedTtl }) {
            const task = await taskStore.createTask({ ttl: taskRequestedTtl ?? 60000, pollInterval: 50 });
            setTimeout(() => {
                taskStore.storeTaskResult(task.taskId, 'completed', {
                    content: [{ type: 'text', text: `report on ${topic}` }],
                }).catch(() => {});
            }, 100);
            return { task };
        },
        async getTask(_args, { taskId, taskStore }) {
            return await taskStore.getTask(taskId);
        },
        async getTaskResult(_args, { taskId, taskStore }) {
            return await taskStore.getTaskResult(taskId);
        },
    });
    return server;
};

const http = createServer(async (req, res) => {
    if (req.method !== 'POST') {
        res.writeHead(405, { Allow: 'POST' }).end();
        return;
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let body;
    try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
        res.writeHead(400).end();
        return;
    }
    const server = newServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
});
http.listen(0, '127.0.0.1', () => {
    console.log(`http://127.0.0.1:${http.address().port}/mcp`);
});
process.on('SIGTERM', () => process.exit(0));
