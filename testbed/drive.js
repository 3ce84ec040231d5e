// SPDX-License-Identifier: Apache-2.0
//
// The testbed's load driver: one real gRPC client (@grpc/grpc-js) per
// weft-node sidecar, reached over the testbed's control links (unshaped,
// not routed between hosts). A subscriber stream on every node; messages
// published one after the other from the publishing nodes in turn, each
// once every subscriber has it (or its --timeout has passed) and a quiet
// --gap later, so one publish never queues behind another. For each message:
// the time from the publish call to each node's delivery, and time-to-all
// (to the last node's delivery). Every delivery is checked: content hash,
// once per subscriber.
//
// usage: node drive.js --proto DIR --nodes H:P,... --pubs i,j,... --count N --size BYTES
//          [--gap MS] [--timeout MS] [--warmup-timeout S] [--snapshot CMD] [--label TEXT]
// --snapshot CMD runs `CMD before` once the warm-up is over and `CMD after` when the
// last message is done (the testbed reads interface and CPU counters there).
// Prints one JSON line; exits 0 when every subscriber got every message.
'use strict';
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = { gap: '300', timeout: '30000', 'warmup-timeout': '60', label: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (process.argv[i + 1] === undefined) { console.error(`drive: --${k} wants a value`); process.exit(2); }
  a[k] = process.argv[i + 1];
}
function need(k) { if (a[k] === undefined) { console.error(`drive: --${k} is required`); process.exit(2); } return a[k]; }
const nodes = need('nodes').split(',');
const pubs = need('pubs').split(',').map((x) => parseInt(x, 10) - 1);
const count = parseInt(need('count'), 10), size = parseInt(need('size'), 10);
const gapMs = parseFloat(a.gap), timeoutMs = parseFloat(a.timeout);
const warmMs = parseFloat(a['warmup-timeout']) * 1000;
if (!(count > 0 && count <= 100000) || !(size >= 16) || !(gapMs >= 0) || !(timeoutMs > 0) ||
    pubs.some((i) => !(i >= 0 && i < nodes.length))) {
  console.error(`drive: bad --count ${a.count} (1..100000), --size ${a.size} (>= 16), --gap, --timeout or --pubs ${a.pubs} (1..${nodes.length})`);
  process.exit(2);
}
const log = (s) => console.error(`drive ${a.label}: ${s}`);
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(need('proto'), 'p2p_stream.proto'),
  { keepCase: true, longs: String, enums: Number, defaults: true })).proto;
const chanOpts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
const clients = nodes.map((n) => new pkg.CommandStream(n, grpc.credentials.createInsecure(), chanOpts));
const topic = `testbed-${crypto.randomBytes(4).toString('hex')}`;
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms, one clock for all nodes
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const req = (command, data) => ({ command, topic, data: data || Buffer.alloc(0), jwt_token: '' });

// Message: 'WEFT', u32 run id, u32 index (0xffffffff = probe), u32 publisher, random bytes.
const runId = crypto.randomBytes(4).readUInt32BE(0);
const PROBE = 0xffffffff;
const digests = new Array(count), sentAt = new Float64Array(count);
const arrive = Array.from({ length: count }, () => new Float64Array(nodes.length).fill(-1));
let waiter = null; // resolves when the current message is everywhere
function makeMessage(i, node, len) {
  const m = crypto.randomBytes(len);
  m.write('WEFT', 0); m.writeUInt32BE(runId, 4); m.writeUInt32BE(i >>> 0, 8); m.writeUInt32BE(node, 12);
  return m;
}

const subs = nodes.map((_, ni) => ({ ni, got: 0, probes: new Set(), bad: 0, dup: 0, err: null }));
function subscribe(s) {
  const call = clients[s.ni].ListenCommands();
  s.call = call;
  call.on('data', (r) => {
    if (r.command !== 1) return; // acks and traces
    const t = now();
    let msg;
    try { msg = Buffer.from(JSON.parse(Buffer.from(r.data).toString()).message, 'base64'); } catch (e) { s.bad++; return; }
    if (msg.length < 16 || msg.toString('latin1', 0, 4) !== 'WEFT' || msg.readUInt32BE(4) !== runId) return;
    const i = msg.readUInt32BE(8);
    if (i === PROBE) { s.probes.add(msg.readUInt32BE(12)); return; }
    if (i >= count) { s.bad++; return; }
    if (arrive[i][s.ni] >= 0) { s.dup++; return; }
    if (crypto.createHash('sha256').update(msg).digest('hex') !== digests[i]) { s.bad++; return; }
    arrive[i][s.ni] = t - sentAt[i];
    s.got++;
    if (waiter && waiter.i === i && arrive[i].every((x) => x >= 0)) waiter.done();
  });
  call.on('error', (e) => { s.err = e.message; });
  call.write(req(2));
}

const publishers = new Map();
function publisher(ni) {
  if (publishers.has(ni)) return publishers.get(ni);
  const call = clients[ni].ListenCommands();
  const p = { call, waiting: [], errors: 0 };
  call.on('data', (r) => {
    if (r.command !== 0) return;
    let ok = false;
    try { ok = JSON.parse(Buffer.from(r.data).toString()).status === 'published'; } catch (e) { ok = false; }
    if (!ok) p.errors++;
    const w = p.waiting.shift();
    if (w) w(ok);
  });
  call.on('error', () => { p.errors++; p.waiting.splice(0).forEach((w) => w(false)); });
  publishers.set(ni, p);
  return p;
}
const publish = (ni, data) => new Promise((res) => { const p = publisher(ni); p.waiting.push(res); p.call.write(req(1, data)); });

function pct(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
const r2 = (x) => (x === null ? null : Math.round(x * 100) / 100);

async function main() {
  subs.forEach(subscribe);
  // Warm-up: every node must see a probe from every publisher (the topic's
  // subscriptions have spread and the meshes carry it), then two heartbeats.
  const wEnd = now() + warmMs;
  let rounds = 0;
  for (;;) {
    await Promise.all(pubs.map((ni) => publish(ni, makeMessage(PROBE, ni, 64))));
    rounds++;
    await sleep(500);
    if (subs.every((s) => pubs.every((ni) => s.probes.has(ni)))) break;
    if (now() > wEnd) {
      const miss = subs.filter((s) => !pubs.every((ni) => s.probes.has(ni))).map((s) => s.ni + 1);
      log(`warm-up timed out after ${rounds} rounds: nodes ${miss.join(',')} saw no probe from some publisher`);
      process.exit(1);
    }
  }
  log(`warm: every node heard every publisher after ${rounds} probe rounds`);
  await sleep(1500);
  if (a.snapshot) execFileSync(a.snapshot, ['before'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = now();
  let timeouts = 0;
  for (let i = 0; i < count; i++) {
    const ni = pubs[i % pubs.length];
    const m = makeMessage(i, ni, size);
    digests[i] = crypto.createHash('sha256').update(m).digest('hex');
    const everywhere = new Promise((res) => { waiter = { i, done: res }; });
    sentAt[i] = now();
    const ack = publish(ni, m);
    const t = await Promise.race([everywhere.then(() => 'all'), sleep(timeoutMs).then(() => 'timeout')]);
    await ack;
    if (t === 'timeout') timeouts++;
    waiter = null;
    if ((i + 1) % Math.max(1, Math.floor(count / 5)) === 0 || i + 1 === count)
      log(`${i + 1}/${count} published (${timeouts} timed out)`);
    await sleep(gapMs);
  }
  const loadSeconds = (now() - t0) / 1000;
  if (a.snapshot) execFileSync(a.snapshot, ['after'], { stdio: ['ignore', 'ignore', 'inherit'] });
  // time to all: the last node's delivery; a message some node never got has none
  const tta = [], perNode = [];
  let delivered = 0, remote = 0;
  for (let i = 0; i < count; i++) {
    const pubNi = pubs[i % pubs.length];
    let worst = -1, all = true;
    for (let n = 0; n < nodes.length; n++) {
      const x = arrive[i][n];
      if (x < 0) { all = false; continue; }
      delivered++;
      if (n !== pubNi) { remote++; perNode.push(x); }
      if (x > worst) worst = x;
    }
    if (all) tta.push(worst);
  }
  tta.sort((x, y) => x - y);
  perNode.sort((x, y) => x - y);
  const res = {
    label: a.label, topic, nodes: nodes.length, publishers: pubs.map((x) => x + 1), count, size,
    gap_ms: gapMs, timeout_ms: timeoutMs,
    deliveries: delivered, deliveries_expected: count * nodes.length,
    remote_deliveries: remote,
    delivery_ratio: delivered / (count * nodes.length),
    all_delivered_messages: tta.length,
    tta_ms_p50: r2(pct(tta, 0.5)), tta_ms_p90: r2(pct(tta, 0.9)), tta_ms_p99: r2(pct(tta, 0.99)),
    tta_ms_max: r2(tta.length ? tta[tta.length - 1] : null),
    node_ms_p50: r2(pct(perNode, 0.5)), node_ms_p99: r2(pct(perNode, 0.99)),
    tta_ms: tta.map(r2),
    missing_per_node: subs.map((s) => count - s.got),
    duplicates: subs.reduce((x, s) => x + s.dup, 0), corrupt: subs.reduce((x, s) => x + s.bad, 0),
    publish_errors: [...publishers.values()].reduce((x, p) => x + p.errors, 0),
    load_seconds: Math.round(loadSeconds * 1000) / 1000, warmup_rounds: rounds,
    errors: subs.filter((s) => s.err).map((s) => `node ${s.ni + 1}: ${s.err}`),
  };
  console.log(JSON.stringify(res));
  subs.forEach((s) => s.call.end());
  publishers.forEach((p) => p.call.end());
  const ok = res.delivery_ratio === 1 && res.corrupt === 0 && res.publish_errors === 0;
  process.exit(ok ? 0 : 1);
}
main().catch((e) => { console.error('drive:', e); process.exit(1); });
// a hard bound on the whole run
setTimeout(() => { console.error('drive: overall timeout'); process.exit(1); },
  warmMs + 5000 + count * (timeoutMs + gapMs + 1000)).unref();
