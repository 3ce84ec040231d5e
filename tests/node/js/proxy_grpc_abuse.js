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
const fs = require('fs');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'grpc', 'pid'])
  if (!a[k]) { console.error(`proxy grpc_abuse: --${k} is required`); process.exit(2); }
const opts = { keepCase: true, longs: String, enums: Number, defaults: true };
const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), opts)).proto;
const copts = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };
const RSS_BOUND_MIB = process.env.WEFT_TEST_SANITIZED ? 1500 : 300;
const [host, port] = [a.grpc.split(':')[0], +a.grpc.split(':')[1]];

let failed = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail !== undefined ? ': ' + detail : ''}`);
  if (!ok) failed++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMiB = () => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${a.pid}/status`, 'utf8'));
  return m ? +m[1] / 1024 : -1;
};
let peak = 0;
const sampler = setInterval(() => { try { peak = Math.max(peak, rssMiB()); } catch (e) { /* gone */ } }, 50);

function client() { return new pkg.ProxyStream(a.grpc, grpc.credentials.createInsecure(), copts); }
function expose(c, ms = 1000) {
  return new Promise((ok) => c.ExposeNodes({}, { deadline: Date.now() + ms }, (err, r) => ok(err ? null : r)));
}
async function alive(what) {
  const c = client();
  const r = await expose(c);
  check(r !== null && Array.isArray(r.nodes) && r.nodes.length === 1,
    `the proxy answers ExposeNodes within 1 s after ${what}`, r && JSON.stringify(r.nodes));
  console.log(`info RSS ${rssMiB().toFixed(1)} MiB, peak so far ${peak.toFixed(1)} MiB`);
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
  for (const junk of [crypto.randomBytes(4096), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'latin1')]) {
    const closed = await new Promise((ok) => {
      const s = net.connect(port, host, () => s.write(junk));
      s.on('data', () => {});
      s.on('close', () => ok(true)); s.on('error', () => {});
      setTimeout(() => { s.destroy(); ok(false); }, 5000);
    });
    check(closed, `garbage (${junk.length} bytes) closes the connection`);
  }
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

  clearInterval(sampler);
  check(peak > 0 && peak < RSS_BOUND_MIB, `proxy RSS stayed under ${RSS_BOUND_MIB} MiB`, `${peak.toFixed(1)} MiB peak`);
  console.log(`proxy grpc_abuse: ${failed ? 'FAILED' : 'ok'}`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('proxy grpc_abuse:', e); process.exit(1); });
setTimeout(() => { console.error('proxy grpc_abuse: timed out'); process.exit(1); }, 120000).unref();
