// Runs the README's TypeScript check of an identity assertion ("Who is calling: identity
// assertions for upstreams"), read from the README itself so the two cannot drift apart.
// The example URLs are replaced by ISSUER and AUDIENCE (so the server the snippet trusts,
// https://conexor.example.com/mcp/acme/crm, becomes ISSUER's acme/crm); req is a request whose
// x-conexor-identity header is ASSERTION. Prints the payload as JSON, or exits 1 with the
// error jose gave.
import { readFileSync } from 'node:fs';
import * as jose from 'jose';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.split('\n## Who is calling: identity assertions for upstreams\n')[1]?.split('\n## ')[0];
const block = section?.split('\n```js\n')[1]?.split('\n```\n')[0];
if (!block) {
  console.error('no ```js block in the README section on identity assertions');
  process.exit(2);
}
const lines = block.split('\n');
const importLine = "import { createRemoteJWKSet, jwtVerify } from 'jose';";
if (lines[0] !== importLine) {
  console.error(`the snippet's first line is ${JSON.stringify(lines[0])}, want ${JSON.stringify(importLine)}`);
  process.exit(2);
}
const body = lines.slice(1).join('\n')
  .replaceAll('https://conexor.example.com', process.env.ISSUER)
  .replaceAll('https://mcp.internal.example.com/mcp', process.env.AUDIENCE);
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('createRemoteJWKSet', 'jwtVerify', 'req', body + '\nreturn payload;');
const req = { headers: { 'x-conexor-identity': process.env.ASSERTION } };
try {
  const payload = await run(jose.createRemoteJWKSet, jose.jwtVerify, req);
  console.log(JSON.stringify(payload));
} catch (err) {
  console.error(`${err.code ?? err.name}: ${err.message}`);
  process.exit(1);
}
