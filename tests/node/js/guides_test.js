// SPDX-License-Identifier: Apache-2.0
//
// The guides' paths, messages and service names against a running weft-proxy
// over weft-node sidecars, with real clients (ws, @grpc/grpc-js and the
// .proto files of proto/): the short REST paths and ws://HOST/ws, the
// publish key "data", WebSocket subscribe/unsubscribe frames with their JSON
// acks and a generated client id, the test suite's "topic not assigned" and
// empty-message bodies, gRPC GatewayStream (ClientStream and Stream) on the
// proxy and P2PStream on a node beside ProxyStream and CommandStream.
//
// usage: node guides_test.js --proto DIR --rest HOST:PORT --grpc HOST:PORT
//          --sidecar1 HOST:PORT --sidecar2 HOST:PORT
// Exit 0 when every check passed; one line per check.
'use strict';
const path = require('path');
const crypto = require('crypto');
const http = require('http');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'rest', 'grpc', 'sidecar1', 'sidecar2']) {
  if (!a[k]) { console.error(`guides_test: --${k} is required`); process.exit(2); }
}
const opts = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };
const proxyPkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), opts)).proto;
const nodePkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'p2p_stream.proto'), opts)).proto;
const chanOpts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

let failed = 0, passed = 0;
function check(cond, what, detail) {
  if (cond) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rnd = (p) => `${p}-${crypto.randomBytes(4).toString('hex')}`;

function req(method, p, body) {
  return new Promise((res) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const [host, port] = [a.rest.split(':')[0], +a.rest.split(':')[1]];
    const q = http.request({ host, port, method, path: p, timeout: 10000,
      headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {} }, (r) => {
      let t = '';
      r.on('data', (c) => { t += c; });
      r.on('end', () => { let j = null; try { j = JSON.parse(t); } catch (e) { j = null; } res({ status: r.statusCode, text: t, json: j }); });
    });
    q.on('error', (e) => res({ status: -1, text: String(e), json: null }));
    q.on('timeout', () => q.destroy(new Error('timeout')));
    if (data) q.write(data);
    q.end();
  });
}

// A WebSocket with a queue of parsed frames and a bounded wait.
function wsOpen(url) {
  return new Promise((res) => {
    const w = new WebSocket(url);
    const q = { w, frames: [], status: 0 };
    w.on('message', (d) => { try { q.frames.push(JSON.parse(d.toString())); } catch (e) { q.frames.push({ raw: d.toString() }); } });
    w.on('open', () => { q.status = 101; res(q); });
    w.on('unexpected-response', (r, resp) => { q.status = resp.statusCode; res(q); });
    w.on('error', () => { if (!q.status) { q.status = -1; res(q); } });
  });
}
async function waitFor(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { const v = pred(); if (v) return v; await sleep(50); }
  return pred();
}
const b64 = (s) => Buffer.from(s).toString('base64');

// A proxy gRPC stream (ProxyStream or GatewayStream) collecting deliveries.
function proxyStream(client, method, clientId, topic) {
  const call = client[method]();
  const got = [];
  call.on('data', (m) => got.push(m));
  call.on('error', () => {});
  call.write({ client_id: clientId, topic, type: 'subscribe' });
  return { call, got };
}

// A node sidecar stream (CommandStream or P2PStream).
function nodeStream(client) {
  const call = client.ListenCommands();
  const q = { call, msgs: [], acks: [] };
  call.on('data', (r) => {
    const t = Buffer.from(r.data).toString();
    if (r.command === 1) q.msgs.push(JSON.parse(t));
    else if (r.command === 0) q.acks.push(JSON.parse(t));
  });
  call.on('error', () => {});
  return q;
}

async function main() {
  // ---- REST: the short paths ---------------------------------------------------
  let r = await req('GET', '/health');
  check(r.status === 200 && r.json && r.json.status === 'ok' && 'cpu_used' in r.json, 'GET /health is /api/v1/health', r.text);
  r = await req('POST', '/health', {});
  check(r.status === 405, 'POST /health: 405', r.status);

  // ---- WebSocket at ws://HOST/ws without a client id, subscribe frames ---------
  const topic = rnd('guides');
  const ws = await wsOpen(`ws://${a.rest}/ws`);
  check(ws.status === 101, 'ws://HOST/ws opens (an alias of /api/v1/ws)', ws.status);
  const hello = await waitFor(() => ws.frames.find((f) => f.type === 'connected'), 5000);
  check(hello && /^ws-[0-9a-f]{16}$/.test(hello.client_id), 'no client_id: the proxy names one in the first frame', ws.frames);
  ws.w.send('{"type":"subscribe"');
  let err = await waitFor(() => ws.frames.find((f) => f.type === 'error'), 5000);
  check(err && /invalid JSON/.test(err.error), 'a bad frame is answered, naming the problem', ws.frames);
  ws.w.send(JSON.stringify({ type: 'subscribe', topic: '' }));
  err = await waitFor(() => ws.frames.filter((f) => f.type === 'error')[1], 5000);
  check(err && /missing topic/.test(err.error), 'a subscribe frame without a topic is refused', ws.frames);
  ws.w.send(JSON.stringify({ type: 'subscribe', topic, threshold: 7 }));
  err = await waitFor(() => ws.frames.filter((f) => f.type === 'error')[2], 5000);
  check(err && /threshold/.test(err.error), 'a threshold out of range is refused', ws.frames);
  ws.w.send(JSON.stringify({ type: 'subscribe', topic, threshold: 0.5 }));
  const ack = await waitFor(() => ws.frames.find((f) => f.type === 'subscribed'), 5000);
  check(ack && ack.status === 'subscribed' && ack.topic === topic && ack.client_id === hello.client_id && ack.threshold === 0.5,
    'a subscribe frame is acknowledged with topic, client and threshold', ack);

  // ---- publish with the short path and the "data" key ----------------------------
  let delivered = null;
  for (let i = 0; i < 40 && !delivered; i++) {
    const text = `via data ${i}`;
    r = await req('POST', '/publish', { client_id: 'guides-pub', topic, data: text });
    if (i === 0) check(r.status === 200 && r.json && r.json.status === 'published', 'POST /publish with "data" publishes', r.text);
    delivered = await waitFor(() => ws.frames.find((f) => f.message === b64(text)), 500);
  }
  check(delivered && delivered.topic === topic, 'the WebSocket subscriber (frame subscription) receives it', ws.frames.slice(-3));

  // ---- the test suite's error bodies ---------------------------------------------
  r = await req('POST', '/api/v1/publish', { client_id: 'guides-pub', topic: rnd('nobody'), message: 'Test' });
  check(r.status >= 400 && /topic not assigned/.test(r.text), 'publish to a topic nobody subscribed: "topic not assigned"', r.text);
  r = await req('POST', '/api/v1/publish', { client_id: 'guides-pub', topic, message: '' });
  check(r.status === 400 && /message is missing/.test(r.text), 'empty message: "message is missing"', r.text);
  r = await req('POST', '/api/v1/publish', { client_id: 'guides-pub', topic });
  check(r.status === 400 && /message is missing/.test(r.text) && /either message or message_length must be provided/.test(r.text),
    'no message: both suites\' strings', r.text);

  // ---- unsubscribe frame: no more deliveries on this connection ------------------
  ws.w.send(JSON.stringify({ type: 'unsubscribe', topic }));
  const unack = await waitFor(() => ws.frames.find((f) => f.type === 'unsubscribed'), 5000);
  check(unack && unack.status === 'unsubscribed' && unack.topic === topic, 'an unsubscribe frame is acknowledged', unack);
  const before = ws.frames.length;
  // A second subscriber (REST) proves the later messages do flow.
  r = await req('POST', '/api/v1/subscribe', { client_id: 'guides-witness', topic, threshold: 0.1 });
  const witness = await wsOpen(`ws://${a.rest}/api/v1/ws?client_id=guides-witness`);
  let seen = false;
  for (let i = 0; i < 40 && !seen; i++) {
    const text = `after unsubscribe ${i}`;
    await req('POST', '/api/v1/publish', { client_id: 'guides-pub', topic, message: text });
    seen = await waitFor(() => witness.frames.find((f) => f.message === b64(text)), 500);
  }
  await sleep(500);
  check(seen && ws.frames.length === before, 'after unsubscribe the connection gets nothing while others do',
    { seen: !!seen, extra: ws.frames.slice(before) });
  // Frame subscriptions end with their connection; one the client had over
  // REST before stays.
  const other = rnd('guides-conn');
  ws.w.send(JSON.stringify({ type: 'subscribe', topic: other }));
  await waitFor(() => ws.frames.find((f) => f.type === 'subscribed' && f.topic === other), 5000);
  witness.w.send(JSON.stringify({ type: 'subscribe', topic }));
  await waitFor(() => witness.frames.find((f) => f.type === 'subscribed'), 5000);
  r = await req('GET', `/api/v1/topics?client_id=${hello.client_id}`);
  check(r.json && r.json.topics.includes(other), 'the frame subscription is listed while connected', r.text);
  witness.w.close();
  ws.w.close();
  await sleep(500);
  r = await req('GET', `/api/v1/topics?client_id=${hello.client_id}`);
  check(r.json && r.json.count === 0, 'closing the connection ends its frame subscriptions', r.text);
  r = await req('GET', '/api/v1/topics?client_id=guides-witness');
  check(r.json && r.json.topics.includes(topic), 'a REST subscription outlives a connection that repeated it', r.text);

  // ---- gRPC: GatewayStream (ClientStream, Stream) and ProxyStream -----------------
  const gtopic = rnd('gateway');
  const gw = new proxyPkg.GatewayStream(a.grpc, grpc.credentials.createInsecure(), chanOpts);
  const px = new proxyPkg.ProxyStream(a.grpc, grpc.credentials.createInsecure(), chanOpts);
  const s1 = proxyStream(gw, 'ClientStream', 'gw-client', gtopic);
  const s2 = proxyStream(gw, 'Stream', 'gw-stream', gtopic);
  const s3 = proxyStream(px, 'ClientStream', 'px-client', gtopic);
  let all = false;
  for (let i = 0; i < 40 && !all; i++) {
    const text = `grpc names ${i}`;
    await req('POST', '/api/v1/publish', { client_id: 'guides-pub', topic: gtopic, message: text });
    const has = (s) => s.got.some((m) => Buffer.from(m.message).toString() === text && m.topic === gtopic);
    all = await waitFor(() => has(s1) && has(s2) && has(s3), 500);
  }
  check(all, 'GatewayStream/ClientStream, GatewayStream/Stream and ProxyStream/ClientStream all deliver',
    [s1.got.length, s2.got.length, s3.got.length]);
  for (const s of [s1, s2, s3]) s.call.cancel();
  gw.close();
  px.close();

  // ---- node: P2PStream beside CommandStream ---------------------------------------
  const ntopic = rnd('p2pstream');
  const p2p1 = new nodePkg.P2PStream(a.sidecar1, grpc.credentials.createInsecure(), chanOpts);
  const cmd2 = new nodePkg.CommandStream(a.sidecar2, grpc.credentials.createInsecure(), chanOpts);
  const p2p2 = new nodePkg.P2PStream(a.sidecar2, grpc.credentials.createInsecure(), chanOpts);
  const health = await new Promise((res) => p2p1.Health({}, { deadline: Date.now() + 5000 }, (e, h) => res(e ? e : h)));
  check(health && health.status === true && typeof health.nodeMode === 'string', 'P2PStream/Health answers', health);
  const sub = nodeStream(p2p1);
  sub.call.write({ command: 2, topic: ntopic });
  const pubA = nodeStream(cmd2), pubB = nodeStream(p2p2);
  let both = false;
  for (let i = 0; i < 40 && !both; i++) {
    pubA.call.write({ command: 1, topic: ntopic, data: Buffer.from(`cmd ${i}`) });
    pubB.call.write({ command: 1, topic: ntopic, data: Buffer.from(`p2p ${i}`) });
    const got = (p) => sub.msgs.some((m) => Buffer.from(m.message, 'base64').toString().startsWith(p));
    both = await waitFor(() => got('cmd ') && got('p2p '), 500);
  }
  check(both, 'P2PStream/ListenCommands subscribes; CommandStream and P2PStream publishes both arrive', sub.msgs.length);
  check(pubB.acks.length > 0 && pubB.acks.every((x) => x.status === 'published' && /^[0-9a-f]+$/.test(x.message_id)),
    'P2PStream publishes are answered with a message_id', pubB.acks.slice(0, 2));
  const topics = await new Promise((res) => p2p1.ListTopics({}, { deadline: Date.now() + 5000 }, (e, t) => res(e ? e : t)));
  check(topics && Array.isArray(topics.topics) && topics.topics.includes(ntopic), 'P2PStream/ListTopics lists the topic', topics);
  for (const q of [sub, pubA, pubB]) q.call.cancel();
  p2p1.close(); cmd2.close(); p2p2.close();

  console.log(`guides_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

const guard = setTimeout(() => { console.log('FAIL guides_test: overall timeout (120 s)'); process.exit(1); }, 120000);
guard.unref();
main().catch((e) => { console.log(`FAIL guides_test: ${e.stack || e}`); process.exit(1); });
