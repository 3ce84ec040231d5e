// SPDX-License-Identifier: Apache-2.0
//
// Message ids end to end (docs/spec/message-ids.md; README, "Proxy"): no
// accepted publish is lost, and the id a publisher is given is the id
// subscribers receive and every node's /api/v1/p2p-snapshot lists.
//
// Against a running devnet (4 weft-node, 1 weft-proxy over all four
// sidecars), with real clients: REST (fetch), WebSocket (ws), gRPC
// ProxyStream and CommandStream (@grpc/grpc-js). Subscribers on both
// topics: a WebSocket client (threshold 0.1), a WebSocket client with
// threshold 1.0 (every node must deliver the same id), a gRPC ClientStream
// client, and one ListenCommands stream on every node's sidecar. Then,
// through REST and through gRPC Publish each: the same text twice on topic
// A and once on topic B, and N distinct messages over A and B; one
// ClientStream publish; through REST a publish with a timestamp, its retry
// (same timestamp: "deduplicated" with the first id, sent once) and the
// same text with another timestamp (a new message). Every accepted publish
// must reach every subscriber exactly once under the id its publisher got.
//
// usage: node ids_test.js --proto DIR --rest HOST:PORT --grpc HOST:PORT
//          --sidecars H:P,H:P,... --apis H:P,H:P,... [--n 20]
// Prints one line per check; exit 0 when all passed.
'use strict';
const path = require('path');
const crypto = require('crypto');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'rest', 'grpc', 'sidecars', 'apis']) {
  if (!a[k]) { console.error(`ids_test: --${k} is required`); process.exit(2); }
}
const N = +(a.n || 20);
const lopts = { keepCase: true, longs: String, enums: Number, defaults: true };
const proxyPkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), lopts)).proto;
const nodePkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'p2p_stream.proto'), lopts)).proto;
const chanOpts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (pred()) return true; await sleep(50); }
  return pred();
}
async function rest(p, body) {
  const r = await fetch(`http://${a.rest}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* left null */ }
  return { status: r.status, json, text };
}
const hexId = (s) => typeof s === 'string' && /^[0-9a-f]{2,128}$/.test(s);

// A subscriber: name, and deliveries {topic, id, text} in arrival order.
function subscriber(name) { return { name, got: [] }; }

async function main() {
  const tag = crypto.randomBytes(4).toString('hex');
  const A = `ids-a-${tag}`, B = `ids-b-${tag}`;
  const subs = [];

  // ---- subscribers ------------------------------------------------------------------
  for (const [client, threshold] of [['ids-ws', 0.1], ['ids-strict', 1.0]]) {
    for (const topic of [A, B]) {
      const r = await rest('/api/v1/subscribe', { client_id: client, topic, threshold });
      check(r.status === 200 && r.json && r.json.status === 'subscribed', `REST subscribe ${client} to ${topic}`, r.text);
    }
    const s = subscriber(`ws ${client} (threshold ${threshold})`);
    const ws = new WebSocket(`ws://${a.rest}/api/v1/ws?client_id=${client}`);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      s.got.push({ topic: m.topic, id: m.message_id, text: Buffer.from(m.message, 'base64').toString() });
    });
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    s.close = () => ws.close();
    subs.push(s);
  }
  const proxyClient = new proxyPkg.ProxyStream(a.grpc, grpc.credentials.createInsecure(), chanOpts);
  {
    const s = subscriber('gRPC ClientStream');
    const call = proxyClient.ClientStream();
    s.acks = [];
    call.on('data', (m) => {
      if (m.type === 'message') s.got.push({ topic: m.topic, id: m.message_id, text: Buffer.from(m.message).toString() });
      else s.acks.push(m);
    });
    call.on('error', () => {});
    call.write({ client_id: 'ids-grpc', topic: A, type: 'subscribe', message: Buffer.alloc(0), message_id: '' });
    call.write({ client_id: 'ids-grpc', topic: B, type: 'subscribe', message: Buffer.alloc(0), message_id: '' });
    s.call = call;
    s.close = () => call.end();
    subs.push(s);
  }
  const streamSub = subs[2];
  const sidecars = a.sidecars.split(',');
  for (let i = 0; i < sidecars.length; i++) {
    const s = subscriber(`node ${i + 1} sidecar`);
    const c = new nodePkg.CommandStream(sidecars[i], grpc.credentials.createInsecure(), chanOpts);
    const call = c.ListenCommands();
    call.on('data', (r) => {
      if (r.command !== 1) return;
      const m = JSON.parse(Buffer.from(r.data).toString());
      s.got.push({ topic: m.topic, id: m.message_id, text: Buffer.from(m.message, 'base64').toString() });
    });
    call.on('error', () => {});
    for (const topic of [A, B]) call.write({ command: 2, topic, data: Buffer.alloc(0), jwt_token: '' });
    s.close = () => call.end();
    subs.push(s);
  }

  // ---- warm-up: until every subscriber hears on both topics ------------------------------
  let warm = false;
  for (let i = 0; i < 40 && !warm; i++) {
    for (const topic of [A, B]) await rest('/api/v1/publish', { client_id: 'ids-pub', topic, message: `warm ${i} ${tag}` });
    warm = await until(() => subs.every((s) => s.got.some((g) => g.topic === A) && s.got.some((g) => g.topic === B)), 500);
  }
  check(warm, 'every subscriber hears both topics');
  await sleep(1500); // warm-up stragglers (threshold 1.0) arrive before the count starts
  const base = subs.map((s) => s.got.length);

  // ---- the publishes ------------------------------------------------------------------------
  const sent = []; // {via, topic, text, id}
  const same = `same text ${tag}`;
  const plan = [[A, same], [A, same], [B, same]];
  for (let i = 0; i < N; i++) plan.push([i % 2 ? B : A, `distinct ${i} ${crypto.randomBytes(6).toString('hex')}`]);

  for (const [topic, text] of plan) {
    const r = await rest('/api/v1/publish', { client_id: 'ids-pub', topic, message: `rest ${text}` });
    const ok = r.status === 200 && r.json && r.json.status === 'published' && r.json.topic === topic && hexId(r.json.message_id);
    if (!ok) check(false, 'REST publish answered published with a message id', r.text);
    else sent.push({ via: 'REST', topic, text: `rest ${text}`, id: r.json.message_id });
  }
  check(sent.length === plan.length, `REST: ${plan.length} publishes answered "published" with a hex message_id`, sent.length);
  check(sent[0].id !== sent[1].id && sent[0].id !== sent[2].id && sent[1].id !== sent[2].id,
    'REST: the same text twice on A and once on B got three ids', `${sent[0].id} ${sent[1].id} ${sent[2].id}`);

  const unary = (req) => new Promise((res) => proxyClient.Publish(req, { deadline: Date.now() + 15000 }, (e, r) => res({ e, r })));
  const g0 = sent.length;
  for (const [topic, text] of plan) {
    const { e, r } = await unary({ client_id: 'ids-pub', topic, message: Buffer.from(`grpc ${text}`) });
    if (e || r.status !== 'published' || !hexId(r.message_id) || r.topic !== topic) check(false, 'gRPC Publish answered', e ? e.message : JSON.stringify(r));
    else sent.push({ via: 'gRPC', topic, text: `grpc ${text}`, id: r.message_id });
  }
  check(sent.length - g0 === plan.length, `gRPC Publish: ${plan.length} publishes answered "published" with a message_id`, sent.length - g0);
  check(new Set(sent.slice(g0, g0 + 3).map((x) => x.id)).size === 3, 'gRPC: the same text twice on A and once on B got three ids');

  // a ClientStream publish: acknowledged on the stream with its id
  const acks0 = streamSub.acks.length;
  const csText = `client stream ${tag}`;
  streamSub.call.write({ client_id: 'ids-grpc', topic: B, type: 'publish', message: Buffer.from(csText), message_id: '' });
  await until(() => streamSub.acks.length > acks0, 10000);
  const ack = streamSub.acks[acks0];
  check(ack && ack.type === 'published' && ack.topic === B && hexId(ack.message_id), 'ClientStream publish acknowledged with type "published" and the message id',
    JSON.stringify(ack));
  if (ack && hexId(ack.message_id)) sent.push({ via: 'ClientStream', topic: B, text: csText, id: ack.message_id });

  // a retry with the same timestamp, and the same text with another one
  const ts = Date.now();
  const rText = `retried ${tag}`;
  const r1 = await rest('/api/v1/publish', { client_id: 'ids-pub', topic: A, message: rText, timestamp: ts });
  const r2 = await rest('/api/v1/publish', { client_id: 'ids-pub', topic: A, message: rText, timestamp: ts });
  const r3 = await rest('/api/v1/publish', { client_id: 'ids-pub', topic: A, message: rText, timestamp: ts + 1 });
  check(r1.json && r1.json.status === 'published' && hexId(r1.json.message_id), 'timestamped publish: published', r1.text);
  check(r2.json && r2.json.status === 'deduplicated' && r1.json && r2.json.message_id === r1.json.message_id,
    'its retry (same timestamp) answers "deduplicated" with the first id', r2.text);
  check(r3.json && r3.json.status === 'published' && r1.json && r3.json.message_id !== r1.json.message_id,
    'the same text with another timestamp is a new message', r3.text);
  if (r1.json && hexId(r1.json.message_id)) sent.push({ via: 'REST ts', topic: A, text: rText, id: r1.json.message_id });
  if (r3.json && hexId(r3.json.message_id)) sent.push({ via: 'REST ts+1', topic: A, text: rText, id: r3.json.message_id });

  // ---- every subscriber gets every accepted publish once, under its id -------------------------
  const expect = sent.length;
  const done = await until(() => subs.every((s, i) => s.got.length - base[i] >= expect), 30000);
  await sleep(1000); // late duplicates would show now
  check(done, `every subscriber received ${expect} messages`, subs.map((s, i) => `${s.name}: ${s.got.length - base[i]}`).join(', '));
  for (let i = 0; i < subs.length; i++) {
    const got = subs[i].got.slice(base[i]);
    const byId = new Map();
    for (const g of got) byId.set(g.id, (byId.get(g.id) || []).concat([g]));
    const missing = sent.filter((x) => !byId.has(x.id));
    const twice = sent.filter((x) => (byId.get(x.id) || []).length > 1);
    const wrong = sent.filter((x) => byId.has(x.id) && !byId.get(x.id).every((g) => g.topic === x.topic && g.text === x.text));
    const extra = got.filter((g) => !sent.some((x) => x.id === g.id));
    check(missing.length === 0, `${subs[i].name}: every publish arrived under the id its publisher got`,
      missing.map((x) => `${x.via} ${x.topic} "${x.text}" ${x.id}`).slice(0, 5).join('; '));
    check(twice.length === 0 && extra.length === 0, `${subs[i].name}: each exactly once, nothing else`,
      `${twice.length} twice, ${extra.length} unknown ids`);
    check(wrong.length === 0, `${subs[i].name}: topic and text match the publish`, wrong.length);
  }

  // ---- and every node lists every id as seen ---------------------------------------------------
  const apis = a.apis.split(',');
  for (let i = 0; i < apis.length; i++) {
    const r = await fetch(`http://${apis[i]}/api/v1/p2p-snapshot`);
    const snap = await r.json();
    const seen = new Set(snap.seen_message_hashes || []);
    const absent = sent.filter((x) => !seen.has(x.id));
    check(absent.length === 0, `node ${i + 1}: every publish's id is in seen_message_hashes`,
      `${absent.length} absent, e.g. ${absent.slice(0, 2).map((x) => x.id).join(' ')}`);
  }
  const metrics = await (await fetch(`http://${a.rest}/metrics`)).text();
  const fb = +(/^message_fallback_deliveries_total (\d+)/m.exec(metrics) || [0, -1])[1];
  check(fb === 0, 'threshold 1.0 was met by every node delivering the same id (no fallback)', fb);

  for (const s of subs) s.close();
  console.log(`ids_test: ${passed} passed, ${failed} failed (${expect} publishes, ${subs.length} subscribers)`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('ids_test:', e); process.exit(1); });
setTimeout(() => { console.error('ids_test: timed out'); process.exit(1); }, 150000).unref();
