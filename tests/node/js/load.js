// SPDX-License-Identifier: Apache-2.0
//
// Publish/subscribe load through weft-node sidecars with a real gRPC client
// (@grpc/grpc-js): one subscriber stream per subscribing node, messages
// published round-robin over the publishing nodes, every delivery checked
// (content hash, once per subscriber), end-to-end latency and publish
// throughput measured. Used by the devnet tests and by bench/.
//
// usage: node load.js --proto DIR --nodes H:P,H:P,... [--pub-nodes i,j] [--sub-nodes i,j]
//          --count N --size BYTES [--window W | --rate MSGS_PER_S] [--timeout S]
//          [--label TEXT] [--json] [--trace-drain]
// Node indexes are 1-based positions in --nodes. Prints a summary line (JSON
// with --json) and exits 0 when every subscriber got every message.
'use strict';
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = { window: '16', timeout: '120', label: '' };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, '');
  if (k === 'json') a.json = true;
  else a[k] = process.argv[++i];
}
function need(k) { if (a[k] === undefined) { console.error(`load: --${k} is required`); process.exit(2); } return a[k]; }
const nodes = need('nodes').split(',');
const idx = (s) => (s ? s.split(',').map((x) => parseInt(x, 10) - 1) : nodes.map((_, i) => i));
const pubNodes = idx(a['pub-nodes']), subNodes = idx(a['sub-nodes']);
const count = parseInt(need('count'), 10), size = parseInt(need('size'), 10);
const windowSize = parseInt(a.window, 10), rate = a.rate ? parseFloat(a.rate) : 0;
const timeoutMs = parseFloat(a.timeout) * 1000;
if (!(count > 0) || !(size >= 16) || pubNodes.concat(subNodes).some((i) => !(i >= 0 && i < nodes.length))) {
  console.error('load: bad --count, --size (>= 16) or node index'); process.exit(2);
}
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(need('proto'), 'p2p_stream.proto'),
  { keepCase: true, longs: String, enums: Number, defaults: true })).proto;
const chanOpts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
const clients = nodes.map((n) => new pkg.CommandStream(n, grpc.credentials.createInsecure(), chanOpts));
const topic = `load-${crypto.randomBytes(4).toString('hex')}`;
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const req = (command, data) => ({ command, topic, data: data || Buffer.alloc(0), jwt_token: '' });

// Message layout: magic 'WEFT', u32 run id, u32 index (0xffffffff = probe),
// u32 publisher node, then random bytes. The digest of the whole message is
// kept by the publisher and checked by every subscriber.
const runId = crypto.randomBytes(4).readUInt32BE(0);
const digests = new Array(count), sentAt = new Float64Array(count);
function makeMessage(i, node) {
  const m = crypto.randomBytes(size);
  m.write('WEFT', 0); m.writeUInt32BE(runId, 4); m.writeUInt32BE(i >>> 0, 8); m.writeUInt32BE(node, 12);
  return m;
}

// ---- subscribers -----------------------------------------------------------------
const subs = subNodes.map((ni) => ({ ni, got: new Map(), probes: new Set(), bad: 0, dup: 0, lat: [], err: null }));
function subscribe(s) {
  const call = clients[s.ni].ListenCommands();
  s.call = call;
  call.on('data', (r) => {
    if (r.command !== 1) return; // traces and acks
    const t = now();
    let msg;
    try { msg = Buffer.from(JSON.parse(Buffer.from(r.data).toString()).message, 'base64'); } catch (e) { s.bad++; return; }
    if (msg.length < 16 || msg.toString('latin1', 0, 4) !== 'WEFT' || msg.readUInt32BE(4) !== runId) return;
    const i = msg.readUInt32BE(8);
    if (i === 0xffffffff) { s.probes.add(msg.readUInt32BE(12)); return; }
    if (i >= count) { s.bad++; return; }
    if (s.got.has(i)) { s.dup++; return; }
    const d = crypto.createHash('sha256').update(msg).digest('hex');
    if (digests[i] !== undefined && digests[i] !== d) { s.bad++; return; }
    s.got.set(i, d);
    s.lat.push(t - sentAt[i]);
  });
  call.on('error', (e) => { s.err = e.message; });
  call.write(req(2));
}

// ---- publishers --------------------------------------------------------------------
function openPublisher(ni) {
  const call = clients[ni].ListenCommands();
  const p = { ni, call, waiting: [], acks: 0, errors: 0, err: null };
  call.on('data', (r) => {
    if (r.command !== 0) return;
    const w = p.waiting.shift();
    let ok = false;
    try { ok = JSON.parse(Buffer.from(r.data).toString()).status === 'published'; } catch (e) { ok = false; }
    if (!ok) p.errors++;
    p.acks++;
    if (w) w(ok);
  });
  call.on('error', (e) => { p.err = e.message; p.waiting.splice(0).forEach((w) => w(false)); });
  return p;
}
function publish(p, data) {
  return new Promise((res) => { p.waiting.push(res); p.call.write(req(1, data)); });
}

function pct(arr, q) {
  if (!arr.length) return null;
  const s = Float64Array.from(arr).sort();
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
}

async function main() {
  subs.forEach(subscribe);
  const pubs = pubNodes.map(openPublisher);
  // Warm-up: every subscriber must see a probe from every publishing node,
  // so the subscriptions have spread and the mesh carries the topic.
  const wEnd = now() + 30000;
  for (;;) {
    await Promise.all(pubs.map((p) => publish(p, makeMessage(0xffffffff, p.ni))));
    await sleep(300);
    if (subs.every((s) => pubs.every((p) => s.probes.has(p.ni)))) break;
    if (now() > wEnd) { console.error('load: warm-up timed out: subscriptions did not spread'); process.exit(1); }
  }
  await sleep(200);

  const t0 = now();
  let next = 0, acked = 0;
  if (rate > 0) {
    const gap = 1000 / rate;
    const inflight = [];
    for (let i = 0; i < count; i++) {
      const due = t0 + i * gap;
      const w = due - now();
      if (w > 1) await sleep(w);
      const p = pubs[i % pubs.length];
      const m = makeMessage(i, p.ni);
      digests[i] = crypto.createHash('sha256').update(m).digest('hex');
      sentAt[i] = now();
      inflight.push(publish(p, m).then(() => { acked++; }));
    }
    await Promise.all(inflight);
  } else {
    // A window of unacknowledged publishes per publishing node.
    await Promise.all(pubs.map(async (p, k) => {
      const mine = [];
      for (let i = k; i < count; i += pubs.length) mine.push(i);
      let pos = 0;
      const lanes = [];
      for (let w = 0; w < windowSize; w++) {
        lanes.push((async () => {
          while (pos < mine.length) {
            const i = mine[pos++];
            const m = makeMessage(i, p.ni);
            digests[i] = crypto.createHash('sha256').update(m).digest('hex');
            sentAt[i] = now();
            await publish(p, m);
            acked++;
          }
        })());
      }
      await Promise.all(lanes);
    }));
  }
  const tPub = now() - t0;
  const end = now() + timeoutMs;
  while (now() < end && !subs.every((s) => s.got.size >= count)) await sleep(50);
  const tAll = now() - t0;
  // Late digests: deliveries that raced their publisher's bookkeeping.
  for (const s of subs) for (const [i, d] of s.got) if (digests[i] !== d) s.bad++;
  const lat = [].concat(...subs.map((s) => s.lat));
  const missing = subs.map((s) => count - s.got.size);
  const res = {
    label: a.label, topic, nodes: nodes.length, publishers: pubs.length, subscribers: subs.length,
    count, size, window: rate > 0 ? null : windowSize, rate: rate || null,
    publish_errors: pubs.reduce((x, p) => x + p.errors, 0),
    delivered: subs.map((s) => s.got.size), missing, duplicates: subs.reduce((x, s) => x + s.dup, 0),
    corrupt: subs.reduce((x, s) => x + s.bad, 0),
    publish_seconds: +(tPub / 1000).toFixed(3),
    publish_msgs_per_s: +(count / (tPub / 1000)).toFixed(1),
    publish_mb_per_s: +((count * size) / 1e6 / (tPub / 1000)).toFixed(2),
    all_delivered_seconds: +(tAll / 1000).toFixed(3),
    latency_ms_p50: lat.length ? +pct(lat, 0.5).toFixed(2) : null,
    latency_ms_p99: lat.length ? +pct(lat, 0.99).toFixed(2) : null,
    errors: subs.filter((s) => s.err).map((s) => `node ${s.ni + 1}: ${s.err}`).concat(pubs.filter((p) => p.err).map((p) => `node ${p.ni + 1}: ${p.err}`)),
  };
  const ok = missing.every((m) => m === 0) && res.corrupt === 0 && res.duplicates === 0 && res.publish_errors === 0;
  if (a.json) console.log(JSON.stringify(res));
  else console.log(`load ${a.label}: ${count} x ${size} B over ${pubs.length} publishers -> ${subs.length} subscribers: ` +
    `delivered ${res.delivered.join('/')}, missing ${missing.join('/')}, dup ${res.duplicates}, corrupt ${res.corrupt}, ` +
    `publish ${res.publish_msgs_per_s} msg/s (${res.publish_mb_per_s} MB/s), latency p50 ${res.latency_ms_p50} ms p99 ${res.latency_ms_p99} ms` +
    (res.errors.length ? `, errors: ${res.errors.join('; ')}` : ''));
  subs.forEach((s) => s.call.end()); pubs.forEach((p) => p.call.end());
  process.exit(ok ? 0 : 1);
}
main().catch((e) => { console.error('load:', e); process.exit(1); });
setTimeout(() => { console.error('load: overall timeout'); process.exit(1); }, timeoutMs + 90000).unref();
