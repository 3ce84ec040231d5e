// SPDX-License-Identifier: Apache-2.0
//
// Two weft-proxy processes behind one address (guide 000: gateways behind a
// load balancer). The balancer is this test's own: a loopback TCP relay that
// sends each new connection to the next proxy in turn (round-robin per
// connection), for REST/WebSocket and for gRPC alike.
//
// Checks: a client subscribes over REST through the balancer (lands on one
// proxy), opens its WebSocket through the balancer (lands on the other) and
// receives every one of N messages published through the balancer (each
// publish a new connection, so half go through each proxy), none twice; the
// same for a gRPC ClientStream; a record forged straight into a node sidecar
// on the proxies' reserved topic (no valid HMAC) is refused and subscribes
// nobody; clients cannot use the reserved topics through a proxy.
//
// With --late HOST:PORT (a proxy started after --late-client subscribed
// --late-topic on the others): the client's WebSocket on that proxy makes it
// ask the group ("want"), it learns the subscription from the others'
// answers, and every message published through the other proxies arrives.
//
// usage: node proxy_share_test.js --proto DIR --rest A,B --grpc A,B --sidecar HOST:PORT
//        [--count N]
//        node proxy_share_test.js --proto DIR --rest A,B --late C --late-client ID --late-topic T
'use strict';
const path = require('path');
const http = require('http');
const net = require('net');
const crypto = require('crypto');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of a.late ? ['proto', 'rest', 'late-client', 'late-topic'] : ['proto', 'rest', 'grpc', 'sidecar']) if (!a[k]) { console.error(`proxy_share_test: --${k} is required`); process.exit(2); }
const N = +(a.count || 40);
const opts = { keepCase: true, longs: String, enums: Number, defaults: true };
const proxyPkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), opts)).proto;
const nodePkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'p2p_stream.proto'), opts)).proto;

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return true; await sleep(50); }
  return pred();
}

// ---- the balancer --------------------------------------------------------------------
// Round-robin per connection over backends; records where each connection went.
function balancer(backends) {
  const b = { next: 0, log: [], socks: new Set() };
  b.server = net.createServer((c) => {
    const i = b.next++ % backends.length;
    b.log.push(i);
    const [host, port] = backends[i].split(':');
    const up = net.connect(+port, host);
    b.socks.add(c); b.socks.add(up);
    c.pipe(up); up.pipe(c);
    const end = () => { c.destroy(); up.destroy(); b.socks.delete(c); b.socks.delete(up); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  });
  return new Promise((res) => b.server.listen(0, '127.0.0.1', () => {
    b.addr = `127.0.0.1:${b.server.address().port}`;
    b.close = () => { b.server.close(); for (const s of b.socks) s.destroy(); };
    res(b);
  }));
}

// One HTTP request on a connection of its own (no keep-alive: the balancer
// picks a proxy per connection).
function req(hp, method, p, body) {
  const [host, port] = hp.split(':');
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res) => {
    const r = http.request({ host, port: +port, method, path: p, agent: false,
      headers: { connection: 'close', 'content-type': 'application/json',
        ...(data ? { 'content-length': Buffer.byteLength(data) } : {}) } }, (resp) => {
      let t = '';
      resp.on('data', (c) => { t += c; });
      resp.on('end', () => { let j = null; try { j = JSON.parse(t); } catch (e) { /* null */ } res({ status: resp.statusCode, json: j, text: t }); });
    });
    r.on('error', (e) => res({ status: 0, json: null, text: String(e) }));
    r.setTimeout(5000, () => r.destroy(new Error('timeout')));
    if (data) r.write(data);
    r.end();
  });
}

const topicsOn = async (hp, client) => ((await req(hp, 'GET', `/api/v1/topics?client_id=${encodeURIComponent(client)}`)).json || {}).topics || [];
async function metric(hp, line) {
  const t = (await req(hp, 'GET', '/metrics')).text;
  const l = t.split('\n').find((x) => x.startsWith(line + ' '));
  return l ? +l.split(' ').pop() : NaN;
}

// Publish n distinct messages through the balancer; returns the texts the
// proxies answered "published" for, and which proxy took each.
async function publishAll(lb, topic, n, tag) {
  const sent = [], via = [0, 0];
  for (let i = 0; i < n; i++) {
    const text = `${tag}-${i}-${crypto.randomBytes(4).toString('hex')}`;
    const at = lb.next % 2;
    const r = await req(lb.addr, 'POST', '/api/v1/publish', { client_id: `${tag}-pub`, topic, message: text });
    if (r.status === 200 && r.json && r.json.status === 'published') { sent.push(text); via[at]++; }
  }
  return { sent, via };
}

// A proxy that started after the subscription was made learns it on attach.
async function late() {
  const rest = a.rest.split(','), client = a['late-client'], topic = a['late-topic'];
  check((await topicsOn(rest[0], client)).includes(topic), 'the subscription exists on proxy 1');
  const got = [];
  const ws = new WebSocket(`ws://${a.late}/api/v1/ws?client_id=${client}`);
  ws.on('message', (m) => { try { got.push(Buffer.from(JSON.parse(m.toString()).message, 'base64').toString()); } catch (e) { got.push('?'); } });
  const opened = await new Promise((res) => { ws.on('open', () => res(true)); ws.on('error', () => res(false)); setTimeout(() => res(false), 5000); });
  check(opened, 'WebSocket open on the late proxy');
  check(await until(async () => (await topicsOn(a.late, client)).includes(topic), 5000),
    'the late proxy learned the subscription by asking the group');
  await sleep(500);
  const lb = await balancer(rest);
  const { sent, via } = await publishAll(lb, topic, N, `late-${client}`);
  await until(() => got.length >= sent.length, 10000);
  await sleep(300);
  const uniq = new Set(got);
  check(sent.length === N && got.length === sent.length && sent.every((t) => uniq.has(t)),
    'the late proxy delivered every message exactly once', `${got.length} received, ${sent.length} sent`);
  console.log(`count: late sent=${sent.length} received=${got.length} distinct=${uniq.size} via=${via}`);
  ws.close(); lb.close();
  console.log(`proxy_share_test (late): ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

async function main() {
  if (a.late) return late();
  const rest = a.rest.split(','), grpcs = a.grpc.split(',');
  const lb = await balancer(rest), glb = await balancer(grpcs);
  const id = crypto.randomBytes(4).toString('hex');

  // ---- clients cannot use the reserved topics ---------------------------------------------
  const rs = await req(rest[0], 'POST', '/api/v1/subscribe', { client_id: `x-${id}`, topic: '_weft/share/weft' });
  check(rs.status === 400 && /reserved/.test(rs.text), 'REST subscribe to a reserved topic: 400 naming it', `${rs.status} ${rs.text}`);
  const rp = await req(rest[0], 'POST', '/api/v1/publish', { client_id: `x-${id}`, topic: '_weft/share/weft', message: 'x' });
  check(rp.status === 400 && /reserved/.test(rp.text), 'REST publish to a reserved topic: 400 naming it', `${rp.status} ${rp.text}`);

  // ---- REST subscribe on one proxy, WebSocket on the other ------------------------------------
  const client = `lb-ws-${id}`, topic = `lb-topic-${id}`;
  const subAt = lb.next % 2;
  const s = await req(lb.addr, 'POST', '/api/v1/subscribe', { client_id: client, topic });
  check(s.status === 200 && s.json && s.json.status === 'subscribed', 'REST subscribe through the balancer', s.text);
  const other = 1 - subAt;
  check(await until(async () => (await topicsOn(rest[other], client)).includes(topic), 5000),
    `the other proxy (${other + 1}) learned the subscription through the nodes`);
  const wsAt = lb.next % 2;
  check(wsAt === other, `the WebSocket goes through the balancer to the other proxy (${wsAt + 1})`);
  const got = [];
  const ws = new WebSocket(`ws://${lb.addr}/api/v1/ws?client_id=${client}`);
  ws.on('message', (m) => { try { const j = JSON.parse(m.toString()); got.push(Buffer.from(j.message, 'base64').toString()); } catch (e) { got.push('?'); } });
  const opened = await new Promise((res) => { ws.on('open', () => res(true)); ws.on('error', () => res(false)); setTimeout(() => res(false), 5000); });
  check(opened, 'WebSocket open through the balancer');
  await sleep(500); // the other proxy's node streams take the topic (one write each)

  const { sent, via } = await publishAll(lb, topic, N, `ws-${id}`);
  check(sent.length === N, `${N} publishes through the balancer answered "published"`, `${sent.length}`);
  check(via[0] > 0 && via[1] > 0, 'publishes went through both proxies', `${via}`);
  await until(() => got.length >= sent.length, 10000);
  await sleep(300); // a late duplicate would show now
  const uniq = new Set(got);
  check(got.length === sent.length && sent.every((t) => uniq.has(t)),
    `WebSocket on proxy ${wsAt + 1} received every message exactly once`, `${got.length} received, ${uniq.size} distinct, ${sent.length} sent`);
  console.log(`count: ws sent=${sent.length} received=${got.length} distinct=${uniq.size} via=${via}`);
  ws.close();

  // ---- the same with a gRPC ClientStream ------------------------------------------------------
  const gclient = `lb-grpc-${id}`, gtopic = `lb-gtopic-${id}`;
  // the REST subscribe lands where the gRPC balancer's first connection does not
  if (lb.next % 2 === 0) await req(lb.addr, 'GET', '/api/v1/health');
  const gsubAt = lb.next % 2;
  const gs = await req(lb.addr, 'POST', '/api/v1/subscribe', { client_id: gclient, topic: gtopic });
  check(gs.status === 200, 'REST subscribe (for gRPC) through the balancer', gs.text);
  check(await until(async () => (await topicsOn(rest[1 - gsubAt], gclient)).includes(gtopic), 5000),
    'the other proxy learned the gRPC client\'s subscription');
  const gAt = glb.next % 2;
  check(gAt !== gsubAt, `the gRPC stream goes to the other proxy (${gAt + 1})`);
  const gc = new proxyPkg.ProxyStream(glb.addr, grpc.credentials.createInsecure());
  const call = gc.ClientStream();
  const ggot = [];
  call.on('data', (m) => ggot.push(Buffer.from(m.message).toString()));
  call.on('error', () => {});
  call.write({ client_id: gclient, type: 'subscribe' });
  await sleep(800);
  const g = await publishAll(lb, gtopic, N, `g-${id}`);
  await until(() => ggot.length >= g.sent.length, 10000);
  await sleep(300);
  const guniq = new Set(ggot);
  check(g.sent.length === N && ggot.length === g.sent.length && g.sent.every((t) => guniq.has(t)),
    `gRPC ClientStream on proxy ${gAt + 1} received every message exactly once`, `${ggot.length} received, ${g.sent.length} sent`);
  console.log(`count: grpc sent=${g.sent.length} received=${ggot.length} distinct=${guniq.size} via=${g.via}`);
  call.end(); gc.close();

  // ---- a forged record straight into a node sidecar -------------------------------------------
  const refusedBefore = (await metric(rest[0], 'weft_proxy_share_records_total{outcome="refused"}')) +
    (await metric(rest[1], 'weft_proxy_share_records_total{outcome="refused"}'));
  const fclient = `forged-${id}`;
  const rec = { v: 1, op: 'sub', g: a.group || 'weft', o: 'mallory:00000000', c: fclient, t: `f-${id}`, th: 0.1,
    ts: Date.now(), n: crypto.randomBytes(8).toString('hex'), mac: '0'.repeat(64) };
  const sc = new nodePkg.CommandStream(a.sidecar, grpc.credentials.createInsecure());
  const pub = sc.ListenCommands();
  pub.on('data', () => {}); pub.on('error', () => {});
  pub.write({ command: 1, topic: `_weft/share/${a.group || 'weft'}`, data: Buffer.from(JSON.stringify(rec)) });
  const refused = await until(async () => ((await metric(rest[0], 'weft_proxy_share_records_total{outcome="refused"}')) +
    (await metric(rest[1], 'weft_proxy_share_records_total{outcome="refused"}'))) > refusedBefore, 5000);
  check(refused, 'a forged record (bad HMAC) is counted as refused');
  check((await topicsOn(rest[0], fclient)).length === 0 && (await topicsOn(rest[1], fclient)).length === 0,
    'the forged record subscribed nobody');
  pub.end(); sc.close();

  const applied = (await metric(rest[0], 'weft_proxy_share_records_total{outcome="applied"}')) +
    (await metric(rest[1], 'weft_proxy_share_records_total{outcome="applied"}'));
  check(applied >= 2, 'applied records are counted', `${applied}`);
  lb.close(); glb.close();
  console.log(`proxy_share_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error(e); process.exit(1); });
