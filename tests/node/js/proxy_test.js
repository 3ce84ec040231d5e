// SPDX-License-Identifier: Apache-2.0
//
// weft-proxy end to end, with real clients: REST (fetch), WebSocket (ws),
// gRPC ProxyStream (@grpc/grpc-js). Two proxies over four nodes:
// statuses and error strings of the spec, a ws client on proxy 1 and a
// ClientStream on proxy 1 receive what REST on proxy 2 publishes,
// threshold 1.0 waits for every node, bad input gets clear errors.
//
// usage: node proxy_test.js --proto DIR --p1 HOST:REST --p2 HOST:REST --g1 HOST:GRPC
// Prints one line per check; exit 0 when all passed.
'use strict';
const path = require('path');
const crypto = require('crypto');
const net = require('net');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'p1', 'p2', 'g1']) if (!a[k]) { console.error(`proxy_test: --${k} is required`); process.exit(2); }
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'),
  { keepCase: true, longs: String, enums: Number, defaults: true })).proto;

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function req(hp, method, p, body, raw) {
  const r = await fetch(`http://${hp}${p}`, { method, headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* left null */ }
  return { status: r.status, json, text };
}
const has = (o, keys) => o && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(50); }
  return pred();
}

// A slow client: half a request line, then nothing. The proxy must keep
// serving everyone else and close it after its timeout.
function slowClient(hp) {
  const st = { closed: false, at: 0, t0: Date.now() };
  const s = net.connect(+hp.split(':')[1], hp.split(':')[0], () => s.write('POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nContent-Le'));
  s.on('close', () => { st.closed = true; st.at = Date.now(); });
  s.on('error', () => {});
  st.sock = s;
  return st;
}

async function main() {
  const topic = `proxy-${crypto.randomBytes(4).toString('hex')}`;
  const slow = slowClient(a.p1);
  // ---- statuses and error strings -----------------------------------------------
  let r = await req(a.p1, 'GET', '/api/v1/health');
  check(r.status === 200 && has(r.json, ['status', 'cpu_used', 'memory_used', 'disk_used', 'country', 'country_iso']) &&
    r.json.status === 'ok', 'GET /api/v1/health keys', r.text);
  r = await req(a.p1, 'GET', '/api/v1/version');
  check(r.status === 200 && has(r.json, ['version', 'commit_hash']), 'GET /api/v1/version keys', r.text);
  r = await req(a.p1, 'GET', '/api/v1/node-countries');
  check(r.status === 200 && r.json.count === 4 && Object.keys(r.json.countries).length === 4 && has(r.json, ['country_isos']),
    'GET /api/v1/node-countries lists the 4 nodes', r.text);
  r = await req(a.p1, 'POST', '/api/v1/publish', '{"client_id": "x", ', true);
  check(r.status === 400 && /invalid JSON/i.test(r.text), 'publish: invalid JSON', r.text);
  r = await req(a.p1, 'POST', '/api/v1/publish', { client_id: 'x', message: 'm' });
  check(r.status === 400 && /missing topic/i.test(r.text), 'publish: missing topic', r.text);
  r = await req(a.p1, 'POST', '/api/v1/publish', { topic, message: 'm' });
  check(r.status === 400 && /missing client ID/i.test(r.text), 'publish: missing client ID', r.text);
  r = await req(a.p1, 'POST', '/api/v1/publish', { client_id: 'x', topic });
  check(r.status === 400 && /either message or message_length must be provided/i.test(r.text), 'publish: no message', r.text);
  r = await req(a.p1, 'POST', '/api/v1/subscribe', { client_id: 'x' });
  check(r.status === 400 && /missing topic/i.test(r.text), 'subscribe: missing topic', r.text);
  r = await req(a.p1, 'POST', '/api/v1/subscribe', { client_id: 'x', topic, threshold: 1.5 });
  check(r.status === 400 && /threshold/.test(r.text), 'subscribe: threshold out of range', r.text);
  r = await req(a.p1, 'GET', '/api/v1/topics');
  check(r.status === 400 && /missing client ID/i.test(r.text), 'topics: missing client ID', r.text);
  r = await req(a.p1, 'POST', '/api/v1/publish', { client_id: 'x', topic, message: 'z'.repeat(1048577) });
  check(r.status === 413, 'publish: over the size limit is 413', r.status);
  // An oversize body is refused from its Content-Length, before it is sent.
  const big = await new Promise((res) => {
    const s = net.connect(+a.p1.split(':')[1], a.p1.split(':')[0], () =>
      s.write(`POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${64 << 20}\r\n\r\n{"a":`));
    let buf = '';
    s.on('data', (d) => { buf += d.toString('latin1'); });
    s.on('close', () => res(buf));
    s.on('error', () => res(buf));
    setTimeout(() => { s.destroy(); res(buf); }, 3000);
  });
  check(/^HTTP\/1\.1 413/.test(big) && /too large/.test(big), 'an oversize body is 413 with a JSON error', big.slice(0, 60));

  // ---- subscribers on proxy 1: WebSocket, gRPC stream, threshold 1.0 --------------
  r = await req(a.p1, 'POST', '/api/v1/subscribe', { client_id: 'ws-client', topic });
  check(r.status === 200 && r.json.status === 'subscribed' && r.json.client === 'ws-client', 'subscribe answers status and client', r.text);
  r = await req(a.p1, 'POST', '/api/v1/subscribe', { client_id: 'strict', topic, threshold: 1.0 });
  check(r.status === 200, 'subscribe with threshold 1.0');
  r = await req(a.p1, 'GET', '/api/v1/topics?client_id=ws-client');
  check(r.status === 200 && r.json.topics.includes(topic) && r.json.count === 1 && r.json.client_id === 'ws-client', 'GET /api/v1/topics', r.text);

  const wsMsgs = [], strictMsgs = [];
  const ws = new WebSocket(`ws://${a.p1}/api/v1/ws?client_id=ws-client`);
  ws.on('message', (d) => wsMsgs.push({ t: Date.now(), m: JSON.parse(d.toString()) }));
  const ws2 = new WebSocket(`ws://${a.p1}/api/v1/ws?client_id=strict`);
  ws2.on('message', (d) => strictMsgs.push({ t: Date.now(), m: JSON.parse(d.toString()) }));
  await Promise.all([new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); }),
    new Promise((res, rej) => { ws2.on('open', res); ws2.on('error', rej); })]);
  check(true, 'WebSocket connected');
  // With auth off the client id is optional: the proxy makes one up and
  // says which in the first frame.
  const noId = await new Promise((res) => {
    const w = new WebSocket(`ws://${a.p1}/api/v1/ws`);
    const t = setTimeout(() => { w.terminate(); res('no frame'); }, 5000);
    w.on('unexpected-response', (q, resp) => { clearTimeout(t); res(resp.statusCode); });
    w.on('message', (d) => { clearTimeout(t); w.close(); res(d.toString()); });
    w.on('error', () => { clearTimeout(t); res(-1); });
  });
  let hello = null;
  try { hello = JSON.parse(noId); } catch (e) { hello = null; }
  check(hello && hello.type === 'connected' && /^ws-[0-9a-f]{16}$/.test(hello.client_id),
    'WebSocket without client_id gets a generated one in its first frame', noId);

  const gMsgs = [];
  const client = new pkg.ProxyStream(a.g1, grpc.credentials.createInsecure(),
    { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  const call = client.ClientStream();
  call.on('data', (m) => gMsgs.push(m));
  call.on('error', () => {});
  call.write({ client_id: 'grpc-client', topic, type: 'subscribe', message: Buffer.alloc(0), message_id: '' });

  // Publish through proxy 2 until the subscriptions have spread, then 20.
  let warm = false;
  for (let i = 0; i < 40 && !warm; i++) {
    await req(a.p2, 'POST', '/api/v1/publish', { client_id: 'pub', topic, message: `warm ${i}` });
    warm = await until(() => wsMsgs.length > 0 && gMsgs.length > 0, 500);
  }
  check(warm, 'REST on proxy 2 reaches ws and gRPC subscribers on proxy 1');
  await sleep(500);
  const n0 = wsMsgs.length, g0 = gMsgs.length, s0 = strictMsgs.length;
  const sent = [];
  for (let i = 0; i < 20; i++) {
    const m = `message ${i} ${crypto.randomBytes(8).toString('hex')}`;
    r = await req(a.p2, 'POST', '/api/v1/publish', { client_id: 'pub', topic, message: m });
    sent.push(m);
    if (i === 0) check(r.status === 200 && r.json.status === 'published' && /^[0-9a-f]{64}$/.test(r.json.message_id) &&
      r.json.topic === topic, 'publish answers status, topic and a 64-hex message_id', r.text);
  }
  await until(() => wsMsgs.length - n0 >= 20 && gMsgs.length - g0 >= 20 && strictMsgs.length - s0 >= 20, 10000);
  const got = wsMsgs.slice(n0).map((x) => Buffer.from(x.m.message, 'base64').toString());
  check(sent.every((m) => got.includes(m)) && got.length === 20, 'ws: all 20 delivered once', `${got.length}`);
  check(wsMsgs.slice(n0).every((x) => has(x.m, ['source_node_id', 'topic', 'message_id', 'message'])), 'ws frames carry the message JSON');
  const ggot = gMsgs.slice(g0).map((x) => Buffer.from(x.message).toString());
  check(sent.every((m) => ggot.includes(m)) && ggot.length === 20 && gMsgs.slice(g0).every((x) => x.topic === topic && x.message_id),
    'gRPC ClientStream: all 20 delivered once', `${ggot.length}`);
  const sgot = strictMsgs.slice(s0).map((x) => Buffer.from(x.m.message, 'base64').toString());
  check(sent.every((m) => sgot.includes(m)) && sgot.length === 20, 'threshold 1.0: all 20 delivered once', `${sgot.length}`);
  // threshold 1.0 waits for the last node: never earlier than threshold 0.1
  const early = strictMsgs.slice(s0).filter((x) => {
    const w = wsMsgs.slice(n0).find((y) => y.m.message_id === x.m.message_id);
    return w && x.t + 5 < w.t;
  });
  check(early.length === 0, 'threshold 1.0 never delivers before threshold 0.1', early.length);
  let metrics = await (await fetch(`http://${a.p1}/metrics`)).text();
  const fb0 = +(/^message_fallback_deliveries_total (\d+)/m.exec(metrics) || [0, -1])[1];
  // one series per node sidecar (node="host:port"), summed here
  const perNode = [...metrics.matchAll(/^node_received_messages_total\{node="[^"]+"\} (\d+)$/gm)].map((m) => +m[1]);
  const recv = perNode.length === 4 ? perNode.reduce((x, y) => x + y, 0) : -1;
  check(fb0 === 0, 'no fallback delivery while every node is up', fb0);
  check(recv >= 80, 'node_received_messages_total counts a delivery per node', recv);
  for (const name of ['published_message_size_bytes_bucket', 'publish_error_total', 'total_p2pnodes_connections',
    'active_ws_clients', 'message_fallback_deliveries_total', 'node_received_messages_total']) {
    const m2 = await (await fetch(`http://${a.p2}/metrics`)).text();
    check(new RegExp(`^${name}`, 'm').test(m2), `metric ${name}`);
  }

  // ---- bad input on the WebSocket ------------------------------------------------------
  const bad = await new Promise((res) => {
    const s = net.connect(+a.p1.split(':')[1], a.p1.split(':')[0], () => {
      const key = crypto.randomBytes(16).toString('base64');
      s.write(`GET /api/v1/ws?client_id=bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      setTimeout(() => s.write(Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f])), 200); // unmasked
    });
    let buf = Buffer.alloc(0);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    s.on('close', () => res(buf));
    s.on('error', () => res(buf));
    setTimeout(() => { s.destroy(); res(buf); }, 3000);
  });
  const closeAt = bad.indexOf(Buffer.from([0x88]));
  check(/101/.test(bad.toString('latin1', 0, 20)) && closeAt > 0, 'an unmasked client frame gets a close frame', bad.toString('latin1', 0, 40));
  r = await req(a.p1, 'GET', '/api/v1/health');
  check(r.status === 200, 'the proxy is still up after bad frames');

  // ---- a node down: threshold 1.0 falls back after the timeout, counted ------------------
  if (a['kill-pid']) {
    process.kill(+a['kill-pid'], 'SIGKILL');
    await sleep(1000);
    const s1 = strictMsgs.length, w1 = wsMsgs.length;
    const down = [];
    for (let i = 0; i < 5; i++) {
      const m = `node down ${i} ${crypto.randomBytes(6).toString('hex')}`;
      r = await req(a.p2, 'POST', '/api/v1/publish', { client_id: 'pub', topic, message: m });
      check(r.status === 200 && r.json.status === 'published', `publish ${i} with a node down (failover)`, r.text);
      down.push({ m, t: Date.now() });
    }
    await until(() => strictMsgs.length - s1 >= 5 && wsMsgs.length - w1 >= 5, 15000);
    const sd = strictMsgs.slice(s1);
    check(sd.length === 5 && down.every((d) => sd.some((x) => Buffer.from(x.m.message, 'base64').toString() === d.m)),
      'threshold 1.0 still delivers every message with a node down', sd.length);
    const fbMs = +(a['fallback-ms'] || 0);
    check(sd.every((x) => { const d = down.find((y) => Buffer.from(x.m.message, 'base64').toString() === y.m); return d && x.t - d.t >= fbMs * 0.9; }),
      'the fallback waited WEFT_FALLBACK_MS', sd.map((x) => x.t).join(','));
    check(wsMsgs.length - w1 === 5, 'threshold 0.1 subscribers are unaffected', wsMsgs.length - w1);
    metrics = await (await fetch(`http://${a.p1}/metrics`)).text();
    const fb1 = +(/^message_fallback_deliveries_total (\d+)/m.exec(metrics) || [0, -1])[1];
    check(fb1 >= 5, 'message_fallback_deliveries_total counts them', fb1);
  }

  r = await req(a.p1, 'GET', '/api/v1/health');
  check(r.status === 200 && !slow.closed, 'requests are served while a slow client holds a half-sent request');
  await until(() => slow.closed, 30000);
  check(slow.closed, 'the slow client is disconnected after the server timeout', `${(slow.at - slow.t0) / 1000} s`);
  slow.sock.destroy();

  ws.close(); ws2.close(); call.end();
  console.log(`proxy_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('proxy_test:', e); process.exit(1); });
setTimeout(() => { console.error('proxy_test: timed out'); process.exit(1); }, 150000).unref();
