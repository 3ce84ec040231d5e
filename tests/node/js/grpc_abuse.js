// SPDX-License-Identifier: Apache-2.0
//
// Abuse of a node's gRPC sidecar with a real client (@grpc/grpc-js) and raw
// sockets: garbage bytes, undecodable protobuf, a 64 MB message, 1,000
// streams on one channel, a 100k-topic SubscribeToTopics. Each is refused
// with a status or an error reply (or only counted), the node stays up and
// answers Health within a second after each, and its RSS stays bounded.
//
// usage: node grpc_abuse.js --proto DIR --sidecar HOST:PORT --pid PID --log FILE
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const { args, harness, sleep, garbage, RSS_BOUND_MIB, COPTS: copts } = require('./abuse_common');
const a = args('grpc_abuse', ['proto', 'sidecar', 'pid', 'log']);
const opts = { keepCase: true, longs: String, enums: Number, defaults: true };
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'p2p_stream.proto'), opts)).proto;
const h = harness(a.pid);
const check = h.check;
const rssMiB = h.rss;

function client() { return new pkg.CommandStream(a.sidecar, grpc.credentials.createInsecure(), copts); }
function health(c, ms = 1000) {
  return new Promise((ok) => c.Health({}, { deadline: Date.now() + ms }, (err, r) => ok(err ? null : r)));
}
async function alive(what) {
  const c = client();
  const r = await health(c);
  check(r !== null && r.status === true, `the node answers Health within 1 s after ${what}`);
  console.log(`info RSS ${rssMiB().toFixed(1)} MiB, peak so far ${h.peak.toFixed(1)} MiB`);
  c.close();
}

async function main() {
  // ---- garbage on the port: not HTTP/2 at all ------------------------------------------
  await garbage(h, a.sidecar);
  await alive('garbage');

  // ---- undecodable protobuf on ListenCommands ------------------------------------------
  const raw = new grpc.Client(a.sidecar, grpc.credentials.createInsecure(), copts);
  const rs = raw.makeBidiStreamRequest('/proto.CommandStream/ListenCommands', (b) => b, (b) => b);
  rs.on('error', () => {}); rs.on('data', () => {});
  for (let i = 0; i < 100; i++) rs.write(crypto.randomBytes(64 + i));
  await sleep(300);
  rs.end(); raw.close();
  await alive('100 undecodable Requests');

  // ---- a 64 MB message -----------------------------------------------------------------
  const big = client();
  const st = big.ListenCommands();
  const reply = new Promise((ok) => {
    st.on('data', (r) => ok({ data: Buffer.from(r.data).toString() }));
    st.on('error', (e) => ok({ code: e.code, details: e.details }));
    setTimeout(() => ok(null), 20000);
  });
  st.write({ command: 1, topic: 'big', data: Buffer.alloc(64 << 20, 7) });
  const r64 = await reply;
  check(r64 !== null && (r64.code === grpc.status.RESOURCE_EXHAUSTED ||
    (r64.data && /"error"/.test(r64.data) && /MAX_MSG_SIZE/.test(r64.data))),
  'a 64 MB publish is refused (status or error naming the limit)', JSON.stringify(r64 && (r64.details || r64.data)));
  st.end(); big.close();
  await alive('a 64 MB message');

  // ---- 1,000 streams on one channel ----------------------------------------------------
  const many = client();
  const streams = [];
  let refused = 0;
  for (let i = 0; i < 1000; i++) {
    const s = many.ListenCommands();
    s.on('error', (e) => { if (e.code === grpc.status.RESOURCE_EXHAUSTED) refused++; });
    s.on('data', () => {});
    s.write({ command: 2, topic: `s${i % 50}` });
    streams.push(s);
  }
  await sleep(1500);
  await alive('1,000 streams opened');
  check(refused >= 700 && refused <= 1000 - 200, 'streams past the node\'s limit are refused with RESOURCE_EXHAUSTED',
    `${refused} of 1000 refused`);
  for (const s of streams) s.cancel();
  many.close();
  await sleep(500);

  // ---- 100k topics in one SubscribeToTopics ---------------------------------------------
  const logBefore = fs.readFileSync(a.log, 'utf8').split('\n').length;
  const sub = client();
  const ss = sub.ListenCommands();
  const answers = [];
  ss.on('data', (r) => answers.push(Buffer.from(r.data).toString()));
  ss.on('error', () => {});
  const topics = Array.from({ length: 100000 }, (_, i) => `m${i}`).join(',');
  ss.write({ command: 4, topic: topics });
  await sleep(3000);
  await alive('a 100k-topic SubscribeToTopics');
  const refusals = answers.filter((x) => /"command":"subscribe"/.test(x)).length;
  check(refusals >= 1 && refusals <= 16, 'the stream is told of a few refusals, not 98,976', refusals);
  const logAfter = fs.readFileSync(a.log, 'utf8').split('\n').length;
  check(logAfter - logBefore < 5000, 'the log did not take a line per topic', `${logAfter - logBefore} lines`);
  ss.end(); sub.close();

  h.stop();
  check(h.peak > 0 && h.peak < RSS_BOUND_MIB, `node RSS stayed under ${RSS_BOUND_MIB} MiB`, `${h.peak.toFixed(1)} MiB peak`);
  console.log(`grpc_abuse: ${h.failed ? 'FAILED' : 'ok'}`);
  process.exit(h.failed ? 1 : 0);
}
main().catch((e) => { console.error('grpc_abuse:', e); process.exit(1); });
setTimeout(() => { console.error('grpc_abuse: timed out'); process.exit(1); }, 120000).unref();
