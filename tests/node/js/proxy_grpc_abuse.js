// SPDX-License-Identifier: Apache-2.0
//
// Abuse of the proxy's gRPC port with a real client (@grpc/grpc-js) and raw
// sockets, as tests/node/js/grpc_abuse.js does for a node's sidecar: garbage
// bytes, undecodable protobuf on ClientStream and Publish, a 64 MB message,
// 1,000 streams on one channel (8 per client id attach). Each is refused with a status (or the
// connection is closed), the proxy stays up and answers ExposeNodes within a
// second after each, and its RSS stays bounded.
//
// usage: node proxy_grpc_abuse.js --proto DIR --grpc HOST:PORT --pid PID
'use strict';
const crypto = require('crypto');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const { args, harness, sleep, garbage, RSS_BOUND_MIB, COPTS: copts } = require('./abuse_common');
const a = args('proxy grpc_abuse', ['proto', 'grpc', 'pid']);
const opts = { keepCase: true, longs: String, enums: Number, defaults: true };
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), opts)).proto;
const h = harness(a.pid);
const check = h.check;
const rssMiB = h.rss;

function client() { return new pkg.ProxyStream(a.grpc, grpc.credentials.createInsecure(), copts); }
function expose(c, ms = 1000) {
  return new Promise((ok) => c.ExposeNodes({}, { deadline: Date.now() + ms }, (err, r) => ok(err ? null : r)));
}
async function alive(what) {
  const c = client();
  const r = await expose(c);
  check(r !== null && Array.isArray(r.nodes) && r.nodes.length === 1,
    `the proxy answers ExposeNodes within 1 s after ${what}`, r && JSON.stringify(r.nodes));
  console.log(`info RSS ${rssMiB().toFixed(1)} MiB, peak so far ${h.peak.toFixed(1)} MiB`);
  c.close();
}
// A raw call: bytes in, the status out.
function rawUnary(method, bytes) {
  const raw = new grpc.Client(a.grpc, grpc.credentials.createInsecure(), copts);
  return new Promise((ok) => {
    raw.makeUnaryRequest(method, (b) => b, (b) => b, bytes, { deadline: Date.now() + 5000 },
      (err) => { raw.close(); ok(err ? err.code : grpc.status.OK); });
  });
}

async function main() {
  // ---- garbage on the port: not HTTP/2 at all ------------------------------------------
  await garbage(h, a.grpc);
  await alive('garbage');

  // ---- undecodable protobuf: ClientStream and Publish ------------------------------------
  const raw = new grpc.Client(a.grpc, grpc.credentials.createInsecure(), copts);
  const rs = raw.makeBidiStreamRequest('/proto.ProxyStream/ClientStream', (b) => b, (b) => b);
  const ended = new Promise((ok) => { rs.on('error', (e) => ok(e.code)); rs.on('end', () => ok('end')); });
  rs.on('data', () => {});
  // a truncated length-delimited field (tag 1, length 100, 3 bytes) and then random ones
  rs.write(Buffer.from([0x0a, 100, 1, 2, 3]));
  for (let i = 0; i < 99; i++) rs.write(crypto.randomBytes(64 + i));
  const code = await Promise.race([ended, sleep(5000).then(() => null)]);
  check(code === grpc.status.INVALID_ARGUMENT, 'an undecodable ClientStream message ends the call with INVALID_ARGUMENT', code);
  raw.close();
  const pub = await rawUnary('/proto.ProxyStream/Publish', Buffer.from([0x12, 0x7f, 0x41]));
  check(pub === grpc.status.INVALID_ARGUMENT, 'an undecodable Publish is INVALID_ARGUMENT', pub);
  await alive('undecodable requests');

  // ---- a 64 MB message -----------------------------------------------------------------
  const big = client();
  const r64 = await new Promise((ok) => {
    big.Publish({ client_id: 'abuser', topic: 'big', message: Buffer.alloc(64 << 20, 7) },
      { deadline: Date.now() + 20000 }, (err, r) => ok(err ? err.code : r));
  });
  check(r64 === grpc.status.RESOURCE_EXHAUSTED, 'a 64 MB Publish is refused with RESOURCE_EXHAUSTED', JSON.stringify(r64));
  big.close();
  await alive('a 64 MB message');

  // ---- 1,000 streams on one channel ----------------------------------------------------
  const many = client();
  const streams = [];
  let errors = 0, exhausted = 0;
  for (let i = 0; i < 1000; i++) {
    const s = many.ClientStream();
    s.on('error', (e) => { errors++; if (e.code === grpc.status.RESOURCE_EXHAUSTED) exhausted++; });
    s.on('data', () => {});
    s.write({ client_id: `many-${i % 100}` });
    streams.push(s);
  }
  for (let t = 0; t < 100 && errors < 200; t++) await sleep(100);
  await sleep(500); // and no more than that
  await alive('1,000 streams opened');
  // 100 client ids, 10 streams each: 8 streams per client are attached
  check(exhausted === 200 && errors === 200, 'streams past 8 per client id are refused with RESOURCE_EXHAUSTED',
    `${exhausted} exhausted, ${errors} errors of 1000`);
  for (const s of streams) s.cancel();
  many.close();
  await sleep(1000);
  await alive('1,000 streams cancelled');

  h.stop();
  check(h.peak > 0 && h.peak < RSS_BOUND_MIB, `proxy RSS stayed under ${RSS_BOUND_MIB} MiB`, `${h.peak.toFixed(1)} MiB peak`);
  console.log(`proxy grpc_abuse: ${h.failed ? 'FAILED' : 'ok'}`);
  process.exit(h.failed ? 1 : 0);
}
main().catch((e) => { console.error('proxy grpc_abuse:', e); process.exit(1); });
setTimeout(() => { console.error('proxy grpc_abuse: timed out'); process.exit(1); }, 120000).unref();
