// The official TypeScript MCP SDK against a running `conexor serve`, as a real MCP client
// uses it: discovery from a bare 401, dynamic registration, authorization with PKCE, state
// and resource, a headless login and consent (fetch with a cookie jar, the forms posted as a
// person would), the token exchange, tools/list, tools/call, a refresh, a 403 step-up from
// mcp:tools:read to mcp:tools:execute, and the client credentials (M2M) path.
//
// Environment: CONEXOR_URL (the issuer), MCP_URL (the MCP endpoint), ADMIN_EMAIL,
// ADMIN_PASSWORD, CC_CLIENT_ID, CC_CLIENT_SECRET (a confidential client of that server).
// Progress goes to stderr; the last line on stdout is a JSON summary. Exit status 0 means
// every check passed.
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

const env = (name) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
};
const BASE = env('CONEXOR_URL');
const MCP_URL = new URL(env('MCP_URL'));
const EMAIL = env('ADMIN_EMAIL');
const PASSWORD = env('ADMIN_PASSWORD');
const CC_ID = env('CC_CLIENT_ID');
const CC_SECRET = env('CC_CLIENT_SECRET');
// Nothing listens here: the headless browser stops at the redirect and reads the code.
const REDIRECT = 'http://127.0.0.1:47999/callback';

const log = (...a) => console.error('[sdk-flow]', ...a);
const summary = {};

// ---- a cookie jar and a headless browser for the login and consent pages ----

class CookieJar {
    #cookies = new Map();
    store(res) {
        for (const c of res.headers.getSetCookie()) {
            const [pair, ...attrs] = c.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim();
            const value = pair.slice(i + 1).trim();
            const expired = attrs.some((a) => /^\s*max-age=(0|-)/i.test(a)) || value === '';
            if (expired) this.#cookies.delete(name);
            else this.#cookies.set(name, value);
        }
    }
    header() {
        return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    }
}

const unescapeHTML = (s) =>
    s.replace(/&(#x?[0-9a-f]+|amp|lt|gt|quot|apos|#39);/gi, (m, e) => {
        const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
        if (named[e.toLowerCase()]) return named[e.toLowerCase()];
        if (e[0] === '#') return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
        return m;
    });

const attr = (tag, name) => {
    const m = tag.match(new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
    return m ? unescapeHTML(m[2] ?? m[3] ?? m[4] ?? '') : undefined;
};

// findForm returns the POST form holding a field named marker: its action and the fields
// a browser would submit (hidden and text inputs, checked checkboxes).
function findForm(html, marker) {
    for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
        const [, formAttrs, inner] = m;
        if (!new RegExp(`name="${marker}"`).test(inner)) continue;
        const fields = [];
        for (const [tag] of inner.matchAll(/<input\b[^>]*>/gi)) {
            const name = attr(tag, 'name');
            const type = (attr(tag, 'type') ?? 'text').toLowerCase();
            if (!name || type === 'submit') continue;
            if (type === 'checkbox' && !/\schecked(\s|>|=)/i.test(tag)) continue;
            fields.push([name, attr(tag, 'value') ?? '']);
        }
        return { action: attr(formAttrs, 'action'), fields };
    }
    return undefined;
}

// browse plays the person: it follows the authorization URL, logs in, and on the consent
// page approves every requested scope except those in uncheck. It stops at the redirect to
// redirectUri and returns its query.
async function browse(jar, authorizationUrl, redirectUri, { uncheck = [] } = {}) {
    let url = authorizationUrl;
    let init = { method: 'GET' };
    const seen = { login: false, consent: null };
    for (let step = 0; step < 15; step++) {
        const res = await fetch(url, {
            ...init,
            redirect: 'manual',
            headers: { cookie: jar.header(), ...(init.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        });
        jar.store(res);
        if (res.status >= 300 && res.status < 400) {
            await res.body?.cancel();
            const loc = new URL(res.headers.get('location'), url).href;
            if (loc.startsWith(redirectUri)) {
                const q = new URL(loc).searchParams;
                if (q.get('error')) throw new Error(`authorization refused: ${q.get('error')} ${q.get('error_description')}`);
                return { code: q.get('code'), state: q.get('state'), iss: q.get('iss'), ...seen };
            }
            url = loc;
            init = { method: 'GET' };
            continue;
        }
        const html = await res.text();
        assert.equal(res.headers.get('access-control-allow-origin'), null, `no CORS on the browser flow (${url})`);
        if (res.status !== 200) throw new Error(`HTTP ${res.status} at ${url}:\n${html.slice(0, 1500)}`);
        const params = new URLSearchParams();
        let form = findForm(html, 'password');
        if (form) {
            for (const [k, v] of form.fields) params.append(k, v);
            params.set('email', EMAIL);
            params.set('password', PASSWORD);
            seen.login = true;
        } else if ((form = findForm(html, 'decision'))) {
            const offered = form.fields.filter(([k]) => k === 'scope').map(([, v]) => v);
            seen.consent = offered;
            for (const [k, v] of form.fields) {
                if (k === 'scope' && uncheck.includes(v)) continue;
                params.append(k, v);
            }
            params.append('decision', 'approve');
        } else {
            throw new Error(`no login or consent form at ${url}:\n${html.slice(0, 1500)}`);
        }
        url = new URL(form.action, url).href;
        init = { method: 'POST', body: params.toString() };
    }
    throw new Error('too many steps in the browser flow');
}

// ---- an OAuthClientProvider that keeps everything in memory and logs in headlessly ----

class HeadlessProvider {
    constructor(name, uncheck = []) {
        this.name = name;
        this.uncheck = uncheck;
        this.jar = new CookieJar();
        this.authorizations = []; // authorization URLs the SDK built
        this.savedTokens = [];
        this.withholdRefresh = false;
    }
    get redirectUrl() {
        return REDIRECT;
    }
    get clientMetadata() {
        return {
            client_name: this.name,
            redirect_uris: [REDIRECT],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
            scope: 'claudeai', // unknown here: ignored
        };
    }
    state() {
        this.lastState = randomBytes(16).toString('base64url');
        return this.lastState;
    }
    clientInformation() {
        return this.client;
    }
    saveClientInformation(info) {
        this.client = info;
    }
    tokens() {
        if (this.tokensValue && this.withholdRefresh) {
            const { refresh_token: _, ...rest } = this.tokensValue;
            return rest;
        }
        return this.tokensValue;
    }
    saveTokens(tokens) {
        this.tokensValue = tokens;
        this.savedTokens.push(tokens);
        this.withholdRefresh = false;
    }
    async redirectToAuthorization(url) {
        log(`${this.name}: authorization request`, url.href);
        this.authorizations.push(url);
        const r = await browse(this.jar, url.href, REDIRECT, { uncheck: this.uncheck });
        assert.equal(r.state, this.lastState, 'state comes back unchanged');
        assert.equal(r.iss, BASE, 'iss (RFC 9207) is the issuer');
        assert.ok(r.code, 'a code');
        this.consentOffered = r.consent;
        this.code = r.code;
    }
    saveCodeVerifier(v) {
        this.verifier = v;
    }
    codeVerifier() {
        return this.verifier;
    }
    invalidateCredentials(scope) {
        log(`${this.name}: SDK invalidates credentials: ${scope}`);
    }
}

// trackingFetch records token requests and, on a 403 insufficient_scope, makes the provider
// withhold its refresh token. TS SDK 1.32.2's auth() answers a step-up challenge with a
// refresh when it holds a refresh token, and a refresh cannot widen scopes (RFC 6749
// section 6): a client that steps up must start a new authorization, which is what this
// provider then lets the SDK do.
function trackingFetch(provider, tokenRequests) {
    return async (input, init) => {
        const res = await fetch(input, init);
        const url = String(input instanceof Request ? input.url : input);
        if (url.endsWith('/api/oauth/token') && init?.body) {
            tokenRequests.push(Object.fromEntries(new URLSearchParams(String(init.body))));
        }
        if (res.status === 403 && /error="insufficient_scope"/.test(res.headers.get('www-authenticate') ?? '')) {
            provider.withholdRefresh = true;
        }
        return res;
    };
}

const jwtClaims = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

// connect runs the SDK's connect, finishing the authorization when it asks for one.
async function connect(provider, fetchFn) {
    const name = `interop-${provider.name}`;
    let client = new Client({ name, version: '1.0.0' });
    let transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
    try {
        await client.connect(transport);
        return client;
    } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
    }
    await transport.finishAuth(provider.code);
    client = new Client({ name, version: '1.0.0' });
    transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
    await client.connect(transport);
    return client;
}

const toolText = (res) => res.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

async function main() {
    // 1. A bare request is a 401 naming the protected resource metadata. It comes from a
    // browser page on a loopback origin (as the MCP Inspector's does), which the gate allows;
    // a page on an origin nobody allowed gets 403 before anything else (DNS rebinding).
    const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bare', version: '1' } } });
    const fromOrigin = (origin) => fetch(MCP_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', origin },
        body: initialize,
    });
    const foreign = await fromOrigin('https://app.example');
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    const bare = await fromOrigin('http://localhost:6274');
    await bare.body?.cancel();
    assert.equal(bare.status, 401);
    const challenge = bare.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer .*resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/mcp\//);
    assert.equal(bare.headers.get('access-control-allow-origin'), '*');
    log('bare 401:', challenge);

    // 2. Authorization code flow, every advertised scope approved.
    const full = new HeadlessProvider('full');
    const fullTokens = [];
    const fullFetch = trackingFetch(full, fullTokens);
    const client = await connect(full, fullFetch);
    assert.ok(full.client?.client_id?.startsWith('client_'), 'dynamically registered');
    assert.deepEqual(full.client.redirect_uris, [REDIRECT]);
    const auth = full.authorizations[0].searchParams;
    assert.equal(auth.get('code_challenge_method'), 'S256');
    assert.ok(auth.get('code_challenge'));
    assert.equal(auth.get('resource'), MCP_URL.href);
    assert.ok(auth.get('state'));
    assert.deepEqual(full.consentOffered, ['mcp:tools:read', 'mcp:tools:execute', 'mcp:resources:read', 'mcp:prompts:read', 'mcp:server:read']);
    const exchange = fullTokens.find((t) => t.grant_type === 'authorization_code');
    assert.equal(exchange?.resource, MCP_URL.href, 'resource on the token request');
    assert.ok(exchange.code_verifier);
    const first = full.tokensValue;
    assert.equal(first.token_type.toLowerCase(), 'bearer');
    assert.ok(first.refresh_token, 'a refresh token');
    assert.equal(jwtClaims(first.access_token).aud, MCP_URL.href, 'aud is the MCP server');

    const tools = await client.listTools();
    const names = tools.tools.map((t) => t.name).sort();
    assert.ok(names.includes('run_query') && names.includes('list_tables'), `tools: ${names}`);
    const called = await client.callTool({ name: 'list_tables', arguments: {} });
    assert.ok(!called.isError && /customers/.test(toolText(called)), `tools/call: ${JSON.stringify(called)}`);
    summary.tools = names;
    log('tools/list and tools/call work');

    // 3. Refresh: the access token stops working; the SDK refreshes on the 401 and retries.
    full.tokensValue = { ...full.tokensValue, access_token: 'not-a-valid-token' };
    const again = await client.callTool({ name: 'list_tables', arguments: {} });
    assert.ok(!again.isError);
    const refresh = fullTokens.find((t) => t.grant_type === 'refresh_token');
    assert.ok(refresh, 'the SDK used the refresh token');
    assert.equal(refresh.resource, MCP_URL.href);
    const refreshed = full.tokensValue;
    assert.notEqual(refreshed.access_token, first.access_token);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== first.refresh_token, 'refresh tokens rotate');
    summary.refreshed = true;
    log('refresh works');
    await client.close();

    // 4. Step-up: the person grants only mcp:tools:read; tools/call is then a 403
    // insufficient_scope, and the SDK authorizes again for mcp:tools:execute.
    const narrow = new HeadlessProvider('step-up', ['mcp:tools:execute']);
    const narrowFetch = trackingFetch(narrow, []);
    const c2 = await connect(narrow, narrowFetch);
    assert.equal(narrow.tokensValue.scope.split(' ').includes('mcp:tools:execute'), false);
    await c2.listTools();
    narrow.uncheck = [];
    let stepped = false;
    try {
        await c2.callTool({ name: 'list_tables', arguments: {} });
    } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        stepped = true;
    }
    assert.ok(stepped, 'tools/call with mcp:tools:read only must start a new authorization');
    const stepAuth = narrow.authorizations.at(-1).searchParams;
    assert.ok(stepAuth.get('scope').split(' ').includes('mcp:tools:execute'), `step-up scope: ${stepAuth.get('scope')}`);
    assert.equal(stepAuth.get('resource'), MCP_URL.href);
    const t3 = new StreamableHTTPClientTransport(MCP_URL, { authProvider: narrow, fetch: narrowFetch });
    await t3.finishAuth(narrow.code);
    assert.ok(narrow.tokensValue.scope.split(' ').includes('mcp:tools:execute'));
    const afterStepUp = await c2.callTool({ name: 'list_tables', arguments: {} });
    assert.ok(!afterStepUp.isError, JSON.stringify(afterStepUp));
    summary.stepUp = stepAuth.get('scope');
    log('step-up works');
    await c2.close();

    // 5. Machine to machine: ClientCredentialsProvider with a client created by the CLI.
    const m2m = new ClientCredentialsProvider({ clientId: CC_ID, clientSecret: CC_SECRET, expectedIssuer: BASE, clientName: 'interop-m2m' });
    const mc = new Client({ name: 'interop-m2m', version: '1.0.0' });
    await mc.connect(new StreamableHTTPClientTransport(MCP_URL, { authProvider: m2m }));
    const m2mTools = await mc.listTools();
    assert.ok(m2mTools.tools.length > 0);
    const m2mCall = await mc.callTool({ name: 'run_query', arguments: { sql: 'SELECT count(*) AS n FROM customers' } });
    assert.ok(!m2mCall.isError, JSON.stringify(m2mCall));
    assert.equal(jwtClaims(m2m.tokens().access_token).aud, MCP_URL.href);
    assert.equal(jwtClaims(m2m.tokens().access_token).sub, CC_ID);
    summary.m2m = true;
    log('client credentials work');
    await mc.close();

    console.log(JSON.stringify({ ok: true, ...summary }));
}

main().catch((err) => {
    console.error('[sdk-flow] FAILED:', err?.stack ?? err);
    process.exit(1);
});
