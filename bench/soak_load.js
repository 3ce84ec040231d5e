// SPDX-License-Identifier: Apache-2.0
//
// The soak's mixed load (bench/soak.sh), until --minutes pass:
//   - RATE publishes a second through the proxies' REST (round-robin), sizes
//     drawn from 64 B .. 256 KiB (mostly small), over TOPICS topics;
//   - SUBS WebSocket subscribers spread over the proxies, each on one topic;
//     every CHURN_S seconds a tenth of them leaves and new client ids take
//     their place (fresh REST subscriptions: client state must expire);
//   - a gRPC ClientStream on each proxy and a sidecar subscriber on each node.
// Prints one JSON line per minute: publishes accepted/refused, deliveries.
//
// usage: node soak_load.js --proxies H:P,H:P --grpc H:P,H:P --sidecars H:P,...
//        --proto DIR --minutes M [--rate R] [--subs N] [--topics T]
'use strict';
const path = require('path');
const crypto = require('crypto');
const WebSocket = require('ws');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const PROXIES = a.proxies.split(','), GRPCS = a.grpc.split(','), SIDECARS = a.sidecars.split(',');
const MINUTES = +a.minutes, RATE = +(a.rate || 50), SUBS = +(a.subs || 100), TOPICS = +(a.topics || 8);
const CHURN_S = 30;
const opts = { keepCase: true, longs: String, enums: Number, defaults: true };
const pxPkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), opts)).proto;
const scPkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'p2p_stream.proto'), opts)).proto;

const st = { accepted: 0, refused: 0, ws_msgs: 0, grpc_msgs: 0, sidecar_msgs: 0, reconnects: 0 };
const topic = (i) => `soak-${i % TOPICS}`;
const size = () => { const r = Math.random(); return r < 0.8 ? 64 + (Math.random() * 1024 | 0) : r < 0.97 ? 16384 : 262144; };
let gen = 0;

async function post(hp, p, body) {
  try {
    const r = await fetch(`http://${hp}${p}`, { method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) });
    await r.text();
    return r.status;
  } catch (e) { return 0; }
}

const subs = [];
async function addSub(i) {
  const hp = PROXIES[i % PROXIES.length], id = `soak-${gen++}`;
  await post(hp, '/api/v1/subscribe', { client_id: id, topic: topic(i) });
  const ws = new WebSocket(`ws://${hp}/api/v1/ws?client_id=${id}`);
  ws.on('message', () => { st.ws_msgs++; });
  ws.on('error', () => {});
  subs[i] = ws;
}

function grpcStreams() {
  for (const hp of GRPCS) {
    const c = new pxPkg.ProxyStream(hp, grpc.credentials.createInsecure(),
      { 'grpc.max_receive_message_length': -1 });
    const s = c.ClientStream();
    s.on('data', () => { st.grpc_msgs++; });
    s.on('error', () => { st.reconnects++; });
    s.write({ client_id: `soak-grpc-${hp}`, type: 'subscribe', topic: topic(0) });
    for (let t = 1; t < TOPICS; t++) s.write({ client_id: `soak-grpc-${hp}`, type: 'subscribe', topic: topic(t) });
  }
  for (const hp of SIDECARS) {
    const c = new scPkg.CommandStream(hp, grpc.credentials.createInsecure(),
      { 'grpc.max_receive_message_length': -1 });
    const s = c.ListenCommands();
    s.on('data', (r) => { if (r.command === 1) st.sidecar_msgs++; });
    s.on('error', () => { st.reconnects++; });
    s.write({ command: 4, topic: Array.from({ length: TOPICS }, (_, t) => topic(t)).join(',') });
  }
}

async function main() {
  for (let i = 0; i < SUBS; i++) await addSub(i);
  grpcStreams();
  const t0 = Date.now(), end = t0 + MINUTES * 60000;
  let next = t0, n = 0, lastMinute = t0, lastChurn = t0;
  const inflight = new Set();
  while (Date.now() < end) {
    if (Date.now() - lastChurn >= CHURN_S * 1000) {
      lastChurn = Date.now();
      for (let k = 0; k < SUBS / 10; k++) {
        const i = (Math.random() * SUBS) | 0;
        subs[i].close();
        await addSub(i);
      }
    }
    if (Date.now() - lastMinute >= 60000) {
      lastMinute = Date.now();
      console.log(JSON.stringify({ minute: Math.round((lastMinute - t0) / 60000), ...st }));
    }
    next += 1000 / RATE;
    if (next > Date.now()) await new Promise((r) => setTimeout(r, next - Date.now()));
    while (inflight.size >= 32) await Promise.race(inflight);
    const hp = PROXIES[n % PROXIES.length];
    const msg = crypto.randomBytes(Math.ceil(size() / 2)).toString('hex');
    const p = post(hp, '/api/v1/publish', { client_id: `pub-${n % 16}`, topic: topic(n), message: msg })
      .then((code) => { if (code === 200) st.accepted++; else st.refused++; inflight.delete(p); });
    inflight.add(p);
    n++;
  }
  await Promise.all(inflight);
  console.log(JSON.stringify({ minute: MINUTES, final: true, ...st }));
  process.exit(0);
}
main().catch((e) => { console.error('soak_load:', e); process.exit(1); });
