// SPDX-License-Identifier: Apache-2.0
//
// Untrusted strings and lengths at the proxy (REST, gRPC) and the node's
// sidecar, against running processes: a message_length of 2e12 or one past
// the limit gets 413 (it once published an empty message); a topic of 256
// bytes is refused up front (the nodes' mesh takes at most 255), 255 is
// accepted; a NUL in a topic or client id (JSON "\u0000" or a raw NUL byte
// in a JSON string, protobuf string bytes) is refused, naming the field,
// instead of cutting the string; a
// topic that is not UTF-8 is refused; a SubscribeToTopics of 100,000 topics
// leaves a bounded number of log lines and a node that still answers.
//
// usage: node input_checks_test.js --proto DIR --sidecar HOST:PORT --rest PORT --grpc PORT --nodelog FILE --max BYTES
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'sidecar', 'rest', 'grpc', 'nodelog', 'max']) if (!a[k]) { console.error(`--${k} is required`); process.exit(2); }
const MAX = +a.max;

let passed = 0, failed = 0;
function check(ok, what, detail) {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rest(method, p, body) {
  const r = await fetch(`http://127.0.0.1:${a.rest}${p}`, {
    method, headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : (Buffer.isBuffer(body) || typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* stays null */ }
  return { status: r.status, json, text };
}

// ---- protobuf by hand, for bytes a string field cannot carry in JS
function varint(n) { const o = []; while (n > 127) { o.push((n & 127) | 128); n = Math.floor(n / 128); } o.push(n); return Buffer.from(o); }
const fieldV = (num, v) => Buffer.concat([varint(num << 3), varint(v)]);
const fieldB = (num, b) => Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
const request = (cmd, topic, data) => Buffer.concat([fieldV(1, cmd), data ? fieldB(2, data) : Buffer.alloc(0), topic ? fieldB(3, topic) : Buffer.alloc(0)]);
const Response = protobuf.loadSync(path.join(a.proto, 'p2p_stream.proto')).lookupType('proto.Response');

function rawStream() {
  const c = new grpc.Client(a.sidecar, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const call = c.makeBidiStreamRequest('/proto.CommandStream/ListenCommands', (b) => b, (b) => b);
  const replies = [];
  call.on('data', (b) => {
    const r = Response.decode(b);
    if (r.command === 0) { try { replies.push(JSON.parse(Buffer.from(r.data).toString())); } catch (e) { /* not JSON */ } }
  });
  call.on('error', () => {});
  const waitReply = async (pred, ms) => { const end = Date.now() + ms; while (Date.now() < end) { const x = replies.find(pred); if (x) return x; await sleep(20); } return null; };
  return { c, call, replies, waitReply };
}

async function main() {
  // ---- proxy REST
  // a publish needs a subscription to its topic somewhere (the guides' "topic not assigned")
  let r = await rest('POST', '/api/v1/subscribe', { client_id: 'c1', topic: 'lens' });
  check(r.status === 200, 'REST subscribe to the length topic', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/publish', { client_id: 'c1', topic: 'lens', message_length: 2e12 });
  check(r.status === 413 && /message_length/.test(r.text), 'REST message_length 2e12: 413', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/publish', { client_id: 'c1', topic: 'lens', message_length: MAX + 1 });
  check(r.status === 413, `REST message_length ${MAX + 1} (one past the limit): 413`, `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/publish', { client_id: 'c1', topic: 'lens', message_length: MAX });
  check(r.status === 200, `REST message_length ${MAX}: accepted`, `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/publish', { client_id: 'c1', topic: 'lens', message: 'x'.repeat(MAX + 1) });
  check(r.status === 413, 'REST message one byte past the limit: 413', r.status);

  const t255 = 'T'.repeat(255), t256 = 'T'.repeat(256);
  r = await rest('POST', '/api/v1/subscribe', { client_id: 'c1', topic: t256 });
  check(r.status === 400 && /255/.test(r.text), 'REST subscribe with a 256-byte topic: 400', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/publish', { client_id: 'c1', topic: t256, message: 'm' });
  check(r.status === 400 && /255/.test(r.text), 'REST publish to a 256-byte topic: 400', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/subscribe', { client_id: 'c1', topic: t255 });
  check(r.status === 200, 'REST subscribe with a 255-byte topic: accepted', `${r.status} ${r.text}`);

  for (const [field, body] of [
    ['topic', '{"client_id":"c1","topic":"alias\\u0000ed","message":"m"}'],
    ['client_id', '{"client_id":"c1\\u0000x","topic":"t","message":"m"}'],
    ['message', '{"client_id":"c1","topic":"t","message":"a\\u0000b"}'],
  ]) {
    r = await rest('POST', '/api/v1/publish', body);
    check(r.status === 400 && r.json && r.json.error.startsWith(`${field}: expected no NUL byte`), `REST NUL in ${field}: 400 naming it`, `${r.status} ${r.text}`);
  }
  // A raw NUL byte inside a JSON string: cJSON takes it and would cut the
  // string there ("ali" for "ali\0as", another client's topic).
  const rawNul = (pre, post) => Buffer.concat([Buffer.from(pre), Buffer.from([0]), Buffer.from(post)]);
  for (const [field, what, body] of [
    ['topic', 'publish', rawNul('{"client_id":"c1","topic":"ali', 'as","message":"m"}')],
    ['client_id', 'publish', rawNul('{"client_id":"c1', 'x","topic":"t","message":"m"}')],
    ['topic', 'subscribe', rawNul('{"client_id":"c1","topic":"ali', 'as"}')],
  ]) {
    r = await rest('POST', `/api/v1/${what}`, body);
    check(r.status === 400 && r.json && r.json.error.startsWith(`${field}: expected no NUL byte`), `REST ${what} with a raw NUL byte in ${field}: 400 naming it`, `${r.status} ${r.text}`);
  }
  r = await rest('GET', '/api/v1/topics?client_id=c1');
  check(r.status === 200 && r.json && !r.json.topics.includes('ali'), 'REST: the raw NUL subscribe left no cut-short topic', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/subscribe', '{"client_id":"c1","topic":"a\\u0000"}');
  check(r.status === 400 && /topic/.test(r.text), 'REST subscribe with a NUL in the topic: 400', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/subscribe', '{"client_id":"c1","topic":"back\\\\u0000slash"}');
  check(r.status === 200, 'REST: an escaped backslash before "u0000" is no NUL', `${r.status} ${r.text}`);
  const badUtf8 = Buffer.concat([Buffer.from('{"client_id":"c1","topic":"bad'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}')]);
  r = await rest('POST', '/api/v1/subscribe', badUtf8);
  check(r.status === 400 && /UTF-8/.test(r.text), 'REST topic that is not UTF-8: 400', `${r.status} ${r.text}`);
  r = await rest('POST', '/api/v1/subscribe', { client_id: 'c1', topic: 'caf\u00e9-\u6f22\u5b57' });
  check(r.status === 200, 'REST UTF-8 topic: accepted', `${r.status} ${r.text}`);

  // ---- proxy gRPC
  const pkg = grpc.loadPackageDefinition(loader.loadSync(path.join(a.proto, 'proxy_stream.proto'), { keepCase: true })).proto;
  const px = new pkg.ProxyStream(`127.0.0.1:${a.grpc}`, grpc.credentials.createInsecure());
  const unary = (m, req) => new Promise((res) => px[m](req, (e, out) => res(e ? { code: e.code, details: e.details } : { code: 0, out })));
  let g = await unary('Publish', { client_id: 'c1', topic: 'alias\u0000ed', message: Buffer.from('m') });
  check(g.code === grpc.status.INVALID_ARGUMENT && /topic.*NUL/.test(g.details), 'gRPC Publish with a NUL in the topic: INVALID_ARGUMENT', JSON.stringify(g));
  g = await unary('Subscribe', { client_id: 'c1\u0000x', topic: 't' });
  check(g.code === grpc.status.INVALID_ARGUMENT && /client_id.*NUL/.test(g.details), 'gRPC Subscribe with a NUL in the client id: INVALID_ARGUMENT', JSON.stringify(g));
  g = await unary('Publish', { client_id: 'c1', topic: t256, message: Buffer.from('m') });
  check(g.code === grpc.status.INVALID_ARGUMENT && /255/.test(g.details), 'gRPC Publish to a 256-byte topic: INVALID_ARGUMENT', JSON.stringify(g));
  g = await unary('Subscribe', { client_id: 'c1', topic: 'ok', topics: ['fine', t256] });
  check(g.code === grpc.status.INVALID_ARGUMENT && /topic 2/.test(g.details), 'gRPC Subscribe listing a 256-byte topic: refused, naming it', JSON.stringify(g));
  g = await unary('Publish', { client_id: 'c1', topic: t255, message: Buffer.from('m') });
  check(g.code === 0, 'gRPC Publish to a 255-byte topic: accepted', JSON.stringify(g));
  // bytes protobuf-c decodes but protobuf forbids (a field number past
  // 2^29-1 after valid fields): refused, not half-trusted and published
  const raw = new grpc.Client(`127.0.0.1:${a.grpc}`, grpc.credentials.createInsecure());
  const odd = Buffer.concat([Buffer.from('\x0a\x02c1\x12\x01t\x1a\x01m', 'latin1'),
    Buffer.from([0xf8, 0xfe, 0x9c, 0xf5, 0x38, 0xff, 0xce, 0xfd, 0xff, 0x73])]);
  g = await new Promise((res) => raw.makeUnaryRequest('/proto.ProxyStream/Publish', (b) => b, (b) => b, odd,
    (e) => res(e ? { code: e.code, details: e.details } : { code: 0 })));
  check(g.code === grpc.status.INVALID_ARGUMENT && /malformed protobuf/.test(g.details), 'gRPC Publish with a field number past 2^29-1: INVALID_ARGUMENT', JSON.stringify(g));
  raw.close();
  px.close();

  // ---- node sidecar
  const s = rawStream();
  const cases = [
    ['a 256-byte topic', request(2, Buffer.from(t256)), /255/],
    ['a NUL in the topic', request(2, Buffer.from('ali\u0000as')), /NUL/],
    ['a topic that is not UTF-8', request(2, Buffer.from([0x61, 0xff, 0x62])), /UTF-8/],
    ['publish to a 256-byte topic', request(1, Buffer.from(t256), Buffer.from('m')), /255/],
  ];
  for (const [what, buf, re] of cases) {
    s.replies.length = 0;
    s.call.write(buf);
    const got = await s.waitReply((x) => x.status === 'error', 3000);
    check(got && re.test(got.error), `sidecar refuses ${what} with an error reply`, JSON.stringify(got));
  }
  s.replies.length = 0;
  s.call.write(request(2, Buffer.from(t255)));
  await sleep(300);
  check(!s.replies.some((x) => x.status === 'error'), 'sidecar takes a 255-byte topic', JSON.stringify(s.replies));

  // 100,000 topics in one SubscribeToTopics: bounded log lines.
  const before = fs.readFileSync(a.nodelog, 'utf8').split('\n').length;
  const many = [];
  for (let i = 0; i < 100000; i++) many.push(`f${i}`); // 100,000 topics in ~590 KB: under the sidecar's message limit
  s.call.write(request(4, null, Buffer.from(many.join(','))));
  await sleep(3000);
  const health = await new Promise((res) => {
    const c = new grpc.Client(a.sidecar, grpc.credentials.createInsecure());
    c.makeUnaryRequest('/proto.CommandStream/Health', (b) => b, (b) => b, Buffer.alloc(0), { deadline: Date.now() + 5000 }, (e) => { c.close(); res(!e); });
  });
  check(health, 'the node answers Health after a 100,000-topic SubscribeToTopics');
  const lines = fs.readFileSync(a.nodelog, 'utf8').split('\n').length - before;
  console.log(`note: ${lines} node log lines for the 100,000-topic subscribe`);
  check(lines < 1000, 'a 100,000-topic SubscribeToTopics leaves a bounded number of log lines', `${lines} lines`);
  s.call.end();
  s.c.close();

  console.log(`input_checks_test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('input_checks_test:', e); process.exit(1); });
setTimeout(() => { console.error('input_checks_test: timed out'); process.exit(1); }, 90000).unref();
