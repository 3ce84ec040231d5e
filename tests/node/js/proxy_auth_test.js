// SPDX-License-Identifier: Apache-2.0
//
// weft-proxy with ENABLE_AUTH=true against one running node. The test makes
// its own RSA keys and JWKS (node:crypto), starts the proxy with them, and
// checks: no token, expired, not yet valid, wrong audience, bad signature,
// alg none and garbage get 401 with a JSON error; a good token publishes,
// subscribes (REST, WebSocket with the header, gRPC with metadata);
// max_publish_per_sec gives 429 with Retry-After; max_message_size 413;
// daily_quota 429; the subject is the client id.
//
// usage: node proxy_auth_test.js --proxy BIN --proto DIR --node HOST:SIDECAR --rest PORT --grpc PORT --dir TMPDIR
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proxy', 'proto', 'node', 'rest', 'grpc', 'dir']) if (!a[k]) { console.error(`--${k} is required`); process.exit(2); }

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64u = (b) => Buffer.from(b).toString('base64url');

const AUD = 'weft-test-audience';
const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = key.publicKey.export({ format: 'jwk' });
fs.writeFileSync(path.join(a.dir, 'jwks.json'), JSON.stringify({ keys: [{ ...jwk, kid: 'k1', use: 'sig', alg: 'RS256' }] }));

function token(claims, opts = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: opts.alg || 'RS256', typ: 'JWT', kid: opts.kid || 'k1' };
  const body = { sub: 'alice', aud: AUD, iat: now, exp: now + 600, ...claims };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(body))}`;
  if (opts.alg === 'none') return `${input}.`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), (opts.signer || key).privateKey);
  return `${input}.${b64u(sig)}`;
}

async function req(method, p, body, tok) {
  const headers = { 'content-type': 'application/json' };
  if (tok) headers.authorization = `Bearer ${tok}`;
  const r = await fetch(`http://127.0.0.1:${a.rest}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* stays null */ }
  return { status: r.status, json, text, retry: r.headers.get('retry-after') };
}

async function main() {
  const proxy = spawn(a.proxy, [], {
    env: { ...process.env, CLUSTER_ID: 'auth-proxy', PROXY_PORT: `:${a.rest}`, PROXY_GRPC_PORT: `:${a.grpc}`,
      P2P_NODES: a.node, WEFT_LISTEN_IP: '127.0.0.1', ENABLE_AUTH: 'true', AUTH0_AUDIENCE: AUD,
      WEFT_JWKS: path.join(a.dir, 'jwks.json') },
    stdio: ['ignore', 'ignore', fs.openSync(path.join(a.dir, 'auth-proxy.log'), 'a')],
  });
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) { try { up = (await req('GET', '/api/v1/health')).status === 200; } catch (e) { await sleep(100); } }
    check(up, 'the proxy starts with auth on');
    const topic = `auth-${crypto.randomBytes(3).toString('hex')}`;
    const now = Math.floor(Date.now() / 1000);
    const bad = {
      'no token': null,
      'expired token': token({ exp: now - 3600 }),
      'token not yet valid': token({ nbf: now + 3600 }),
      'wrong audience': token({ aud: 'someone-else' }),
      'bad signature': token({}, { signer: other }),
      'alg none': token({}, { alg: 'none' }),
      'garbage': 'not.a.token',
    };
    for (const [what, tok] of Object.entries(bad)) {
      const r = await req('POST', '/api/v1/publish', { topic, message: 'x' }, tok);
      check(r.status === 401 && r.json && typeof r.json.error === 'string', `401 for ${what}`, `${r.status} ${r.text}`);
    }
    const good = token({});
    let r = await req('POST', '/api/v1/subscribe', { topic }, good);
    check(r.status === 200 && r.json.client === 'alice', 'a good token subscribes; the subject is the client id', r.text);
    r = await req('POST', '/api/v1/publish', { client_id: 'mallory', topic, message: 'x' }, good);
    check(r.status === 403, 'a client_id other than the subject is refused', r.status);

    // WebSocket with the header; gRPC with metadata.
    const got = [];
    const ws = new WebSocket(`ws://127.0.0.1:${a.rest}/api/v1/ws?client_id=alice`, { headers: { authorization: `Bearer ${good}` } });
    ws.on('message', (d) => got.push(JSON.parse(d.toString())));
    const opened = await new Promise((res) => { ws.on('open', () => res(true)); ws.on('error', () => res(false)); });
    check(opened, 'WebSocket with a good token connects');
    const denied = await new Promise((res) => {
      const w = new WebSocket(`ws://127.0.0.1:${a.rest}/api/v1/ws?client_id=alice`);
      w.on('unexpected-response', (q, resp) => res(resp.statusCode));
      w.on('open', () => res(101));
      w.on('error', () => res(-1));
    });
    check(denied === 401, 'WebSocket without a token gets 401', denied);
    let arrived = false;
    for (let i = 0; i < 40 && !arrived; i++) {
      r = await req('POST', '/api/v1/publish', { topic, message: `hello ${i}` }, good);
      await sleep(250);
      arrived = got.length > 0;
    }
    check(r.status === 200 && r.json.status === 'published', 'a good token publishes', r.text);
    check(arrived, 'the authenticated subscriber receives it');

    const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), { keepCase: true })).proto;
    const c = new pkg.ProxyStream(`127.0.0.1:${a.grpc}`, grpc.credentials.createInsecure());
    const call = (md) => new Promise((res) => c.Publish({ client_id: '', topic, message: Buffer.from('g') }, md, (e, out) => res(e ? e.code : out.status)));
    const mdGood = new grpc.Metadata(); mdGood.set('authorization', `Bearer ${good}`);
    check(await call(new grpc.Metadata()) === grpc.status.UNAUTHENTICATED, 'gRPC Publish without a token: UNAUTHENTICATED');
    check(await call(mdGood) === 'published', 'gRPC Publish with a good token');

    // Limits from claims.
    const limited = token({ sub: 'bob', max_publish_per_sec: 2 });
    const codes = [];
    let retry = null, body429 = '';
    for (let i = 0; i < 4; i++) {
      r = await req('POST', '/api/v1/publish', { topic, message: `r${i}` }, limited);
      codes.push(r.status);
      if (r.status === 429) { retry = r.retry; body429 = r.text; }
    }
    check(codes.slice(0, 2).every((s) => s === 200) && codes.slice(2).includes(429) && /max_publish_per_sec/.test(body429),
      'max_publish_per_sec: 429 past the limit, naming the limit', `${codes.join(',')} ${body429}`);
    check(retry !== null && +retry >= 1, '429 carries Retry-After', retry);
    const small = token({ sub: 'carol', max_message_size: 10 });
    r = await req('POST', '/api/v1/publish', { topic, message: 'x'.repeat(11) }, small);
    check(r.status === 413 && /max_message_size/.test(r.text), 'max_message_size: 413', `${r.status} ${r.text}`);
    const quota = token({ sub: 'dave', daily_quota: 20 });
    r = await req('POST', '/api/v1/publish', { topic, message: 'y'.repeat(15) }, quota);
    const r2 = await req('POST', '/api/v1/publish', { topic, message: 'z'.repeat(15) }, quota);
    check(r.status === 200 && r2.status === 429 && /daily_quota/.test(r2.text), 'daily_quota: 429 once used up', `${r.status} ${r2.status} ${r2.text}`);
    const m = await (await fetch(`http://127.0.0.1:${a.rest}/metrics`)).text();
    check(/^weft_proxy_auth_failures_total ([1-9]\d*)$/m.test(m) && /^weft_proxy_rate_limited_total ([1-9]\d*)$/m.test(m),
      'auth failures and rate limits are counted');
    ws.close();
  } finally {
    proxy.kill('SIGTERM');
  }
  console.log(`proxy_auth_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('proxy_auth_test:', e); process.exit(1); });
setTimeout(() => { console.error('proxy_auth_test: timed out'); process.exit(1); }, 90000).unref();
