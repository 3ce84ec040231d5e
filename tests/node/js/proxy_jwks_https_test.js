// SPDX-License-Identifier: Apache-2.0
//
// weft-proxy with auth configured as the guides do (ENABLE_AUTH, AUTH0_DOMAIN,
// AUTH0_AUDIENCE): the key set comes from https://AUTH0_DOMAIN/.well-known/
// jwks.json. The test makes a throwaway CA and a certificate for IP
// 127.0.0.1 (openssl), serves the key set with node's https module, and
// checks: a valid token is accepted; a token with an unknown kid makes the
// proxy refetch (rate-limited) and a token signed by the rotated key is then
// accepted; with the server down the last good set still serves, the
// failure is logged once and counted; a certificate from another CA makes
// start and check-config refuse with the same clear error; with auth on,
// gRPC ExposeNodes needs a token and GET /api/v1/topics?client_id= needs
// that client's own token.
//
// usage: node proxy_jwks_https_test.js --proxy BIN --proto DIR --node HOST:SIDECAR --rest PORT --grpc PORT --dir TMPDIR
'use strict';
const fs = require('fs');
const path = require('path');
const https = require('https');
const crypto = require('crypto');
const { spawn, execFileSync } = require('child_process');
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
const f = (n) => path.join(a.dir, n);

// ---- a throwaway CA, a server certificate for 127.0.0.1, and a stranger CA
function openssl(...args) { execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] }); }
function makeCa(name) {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`),
    '-days', '1', '-subj', `/CN=weft test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}
makeCa('ca');
makeCa('other-ca');
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=127.0.0.1');
fs.writeFileSync(f('srv.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
openssl('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
  '-out', f('srv.pem'), '-days', '1', '-extfile', f('srv.ext'));

// ---- the issuer's key set, served over https
const AUD = 'weft-https-audience';
const k1 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const k2 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwkOf = (k, kid) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' });
let served = { keys: [jwkOf(k1, 'k1')] };
let fetches = 0;
const server = https.createServer({ key: fs.readFileSync(f('srv.key')), cert: fs.readFileSync(f('srv.pem')) }, (req, res) => {
  if (req.url !== '/.well-known/jwks.json') { res.writeHead(404); res.end(); return; }
  fetches++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(served));
});

let issuer = '';
function token(claims, kid, key) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'RS256', typ: 'JWT', kid };
  const body = { sub: 'alice', aud: AUD, iss: issuer, iat: now, exp: now + 600, ...claims };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(body))}`;
  return `${input}.${b64u(crypto.sign('RSA-SHA256', Buffer.from(input), key.privateKey))}`;
}

async function req(method, p, body, tok) {
  const headers = { 'content-type': 'application/json' };
  if (tok) headers.authorization = `Bearer ${tok}`;
  const r = await fetch(`http://127.0.0.1:${a.rest}${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* stays null */ }
  return { status: r.status, json, text };
}

// Run to the end without blocking this process (the key server lives here).
function run(bin, args, env) {
  return new Promise((res) => {
    const ch = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    ch.stdout.on('data', (d) => { stdout += d; });
    ch.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => ch.kill('SIGKILL'), 20000);
    ch.on('close', (status) => { clearTimeout(t); res({ status, stdout, stderr }); });
  });
}

function proxyEnv(port, extra = {}) {
  return { ...process.env, CLUSTER_ID: 'https-proxy', PROXY_PORT: `:${a.rest}`, PROXY_GRPC_PORT: `:${a.grpc}`,
    P2P_NODES: a.node, WEFT_LISTEN_IP: '127.0.0.1', ENABLE_AUTH: 'true', AUTH0_DOMAIN: `127.0.0.1:${port}`,
    AUTH0_AUDIENCE: AUD, WEFT_TLS_CA_FILE: f('ca.pem'), WEFT_JWKS_REFRESH_S: '1', WEFT_JWKS_MIN_INTERVAL_MS: '300',
    ...extra };
}

async function main() {
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  const port = server.address().port;
  issuer = `https://127.0.0.1:${port}/`;

  // check-config agrees with start: the right CA passes, another CA and the
  // system store are refused with the same line start prints.
  let cc = await run(a.proxy, ['check-config'], proxyEnv(port));
  check(cc.status === 0 && /config ok/.test(cc.stdout), 'check-config: https key set with the test CA', `${cc.status} ${cc.stderr}`);
  for (const [what, extra] of [['another CA', { WEFT_TLS_CA_FILE: f('other-ca.pem') }], ['the system CA store', { WEFT_TLS_CA_FILE: '' }]]) {
    cc = await run(a.proxy, ['check-config'], proxyEnv(port, extra));
    const st = await run(a.proxy, [], proxyEnv(port, extra));
    const line = (s) => (s || '').split('\n').filter((l) => l.startsWith('weft-proxy: ')).join('|');
    check(cc.status === 2 && /AUTH0_DOMAIN/.test(line(cc.stderr)) && /certificate/i.test(line(cc.stderr)),
      `check-config refuses a server certificate from ${what}`, `${cc.status} ${cc.stderr}`);
    check(st.status === 2 && line(st.stderr) === line(cc.stderr), `start refuses it with the same line (${what})`,
      `${st.status} start: ${line(st.stderr)} check-config: ${line(cc.stderr)}`);
  }

  const logPath = f('https-proxy.log');
  const proxy = spawn(a.proxy, [], { env: proxyEnv(port), stdio: ['ignore', 'ignore', fs.openSync(logPath, 'a')] });
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) { try { up = (await req('GET', '/api/v1/health')).status === 200; } catch (e) { await sleep(100); } }
    check(up, 'the proxy starts with the key set fetched over https');
    check(fetches >= 1, 'the key set was fetched from https://AUTH0_DOMAIN/.well-known/jwks.json', fetches);

    const topic = `https-${crypto.randomBytes(3).toString('hex')}`;
    const t1 = token({}, 'k1', k1);
    let r = await req('POST', '/api/v1/subscribe', { topic }, t1);
    check(r.status === 200 && r.json && r.json.client === 'alice', 'a valid token is accepted', r.text);
    r = await req('POST', '/api/v1/subscribe', { topic }, token({ iss: 'https://elsewhere/' }, 'k1', k1));
    check(r.status === 401, 'a token from another issuer is refused', r.status);

    // Rotation: the issuer now signs with k2 only.
    served = { keys: [jwkOf(k2, 'k2')] };
    const before = fetches;
    const t2 = token({}, 'k2', k2);
    r = await req('POST', '/api/v1/subscribe', { topic }, t2);
    const first = r.status;
    let accepted = r.status === 200, tries = 1;
    for (; tries < 40 && !accepted; tries++) { await sleep(100); accepted = (await req('POST', '/api/v1/subscribe', { topic }, t2)).status === 200; }
    check(first === 401 && accepted, 'an unknown kid triggers a refresh; then a token signed by the rotated key is accepted',
      `first ${first}, accepted ${accepted} after ${tries} tries`);
    check(fetches > before, 'the unknown kid caused a fetch', `${before} -> ${fetches}`);

    // Rate limit: a burst of unknown kids must not become a burst of fetches.
    const burst0 = fetches, t0 = Date.now();
    const stranger = token({}, 'nope', k1);
    for (let i = 0; i < 30; i++) await req('POST', '/api/v1/subscribe', { topic }, stranger);
    await sleep(300);
    const secs = (Date.now() - t0) / 1000;
    const allowed = Math.ceil(secs / 0.3) + Math.ceil(secs) + 1; // min interval 300 ms; periodic 1 s
    check(fetches - burst0 <= allowed, 'refreshes on unknown kids are rate-limited', `${fetches - burst0} fetches in ${secs.toFixed(2)} s for 30 requests (allowed ${allowed})`);

    // ExposeNodes and a client's topics need a token (issue 20 item 5).
    const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), { keepCase: true })).proto;
    const c = new pkg.ProxyStream(`127.0.0.1:${a.grpc}`, grpc.credentials.createInsecure());
    const expose = (md) => new Promise((res) => c.ExposeNodes({ client_id: '', expose_amount: 0 }, md, (e, out) => res(e ? { code: e.code } : { code: 0, out })));
    let e = await expose(new grpc.Metadata());
    check(e.code === grpc.status.UNAUTHENTICATED, 'gRPC ExposeNodes without a token: UNAUTHENTICATED', e.code);
    const md = new grpc.Metadata(); md.set('authorization', `Bearer ${t2}`);
    e = await expose(md);
    check(e.code === 0 && Array.isArray(e.out.nodes), 'gRPC ExposeNodes with a valid token answers', JSON.stringify(e));
    c.close();
    r = await req('GET', `/api/v1/topics?client_id=alice`);
    check(r.status === 401, 'GET /api/v1/topics?client_id= without a token: 401', `${r.status} ${r.text}`);
    r = await req('GET', `/api/v1/topics?client_id=alice`, undefined, token({ sub: 'bob' }, 'k2', k2));
    check(r.status === 403, "GET /api/v1/topics with another client's token: 403", `${r.status} ${r.text}`);
    r = await req('GET', `/api/v1/topics?client_id=alice`, undefined, t2);
    check(r.status === 200 && r.json.topics.includes(topic), "GET /api/v1/topics with the client's own token lists its topics", `${r.status} ${r.text}`);

    // The server goes away: refreshes fail (periodic, every second), the
    // last good set keeps serving; the failure is logged once, counted.
    await new Promise((res) => { server.close(res); server.closeAllConnections(); });
    await sleep(3500);
    r = await req('POST', '/api/v1/subscribe', { topic }, t2);
    check(r.status === 200, 'with the key server down, the last good set still serves', `${r.status} ${r.text}`);
    const m = await (await fetch(`http://127.0.0.1:${a.rest}/metrics`)).text();
    const errs = +((m.match(/^weft_proxy_jwks_refresh_total\{result="error"\} (\d+)/m) || [])[1] || 0);
    const oks = +((m.match(/^weft_proxy_jwks_refresh_total\{result="ok"\} (\d+)/m) || [])[1] || 0);
    check(errs >= 2 && oks >= 2, 'refresh results are counted in /metrics', `ok ${oks} error ${errs}`);
    const logged = fs.readFileSync(logPath, 'utf8').split('\n').filter((l) => /key set refresh failed/.test(l)).length;
    check(logged === 1, 'a run of failed refreshes is logged once', `${logged} lines for ${errs} failures`);
  } finally {
    proxy.kill('SIGTERM');
    server.close();
  }
  console.log(`proxy_jwks_https_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('proxy_jwks_https_test:', e); process.exit(1); });
setTimeout(() => { console.error('proxy_jwks_https_test: timed out'); process.exit(1); }, 120000).unref();
