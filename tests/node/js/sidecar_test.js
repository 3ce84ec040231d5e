// SPDX-License-Identifier: Apache-2.0
//
// A real gRPC client (@grpc/grpc-js, .proto files from proto/) against two
// running weft-node processes: subscribe on one, publish on the other, and
// check every documented behaviour of the sidecar and the HTTP API.
//
// usage: node sidecar_test.js --proto DIR --mode optimum|gossipsub
//          --sub HOST:SIDECAR --pub HOST:SIDECAR --sub-api HOST:PORT --pub-api HOST:PORT
// Exit 0 when every check passed; prints one line per check.
'use strict';
const path = require('path');
const crypto = require('crypto');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['proto', 'mode', 'sub', 'pub', 'sub-api', 'pub-api']) {
  if (!args[k]) { console.error(`sidecar_test: --${k} is required`); process.exit(2); }
}
const opts = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true };
const stream = grpc.loadPackageDefinition(loader.loadSync(path.join(args.proto, 'p2p_stream.proto'), opts)).proto;
const traceRoot = loader.loadSync(path.join(args.proto, 'optimum_trace.proto'), opts);
const protobuf = require('protobufjs');
const traceType = protobuf.loadSync(path.join(args.proto, 'optimum_trace.proto')).lookupType('optimum.pb.TraceEvent');
void traceRoot;

const chanOpts = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
const subClient = new stream.CommandStream(args.sub, grpc.credentials.createInsecure(), chanOpts);
const pubClient = new stream.CommandStream(args.pub, grpc.credentials.createInsecure(), chanOpts);

let failed = 0, passed = 0;
function check(cond, what, detail) {
  if (cond) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unary = (c, m) => new Promise((res, rej) => c[m]({}, { deadline: Date.now() + 5000 }, (e, r) => e ? rej(e) : res(r)));

// A ListenCommands stream with a queue of responses.
function open(client) {
  const call = client.ListenCommands();
  const q = { msgs: [], traces: [], acks: [], waiters: [], ended: null, call };
  call.on('data', (r) => {
    if (r.command === 1) q.msgs.push(JSON.parse(Buffer.from(r.data).toString()));
    else if (r.command === 2 || r.command === 3) q.traces.push({ command: r.command, data: Buffer.from(r.data) });
    else q.acks.push(JSON.parse(Buffer.from(r.data).toString()));
    q.waiters.splice(0).forEach((w) => w());
  });
  call.on('error', (e) => { q.ended = e; q.waiters.splice(0).forEach((w) => w()); });
  call.on('end', () => { q.ended = q.ended || 'end'; q.waiters.splice(0).forEach((w) => w()); });
  q.wait = (pred, ms) => new Promise((res) => {
    const end = Date.now() + ms;
    const test = () => {
      if (pred()) return res(true);
      if (Date.now() > end || q.ended) return res(pred());
      q.waiters.push(test);
      setTimeout(test, Math.min(200, Math.max(1, end - Date.now())));
    };
    test();
  });
  return q;
}
const req = (command, topic, data) => ({ command, topic: topic || '', data: data || Buffer.alloc(0), jwt_token: '' });

async function publish(q, topic, data) {
  const before = q.acks.length;
  q.call.write(req(1, topic, data));
  await q.wait(() => q.acks.length > before, 10000);
  return q.acks[before];
}

async function getJSON(hostport, p) {
  const r = await fetch(`http://${hostport}${p}`);
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { /* checked by the caller */ }
  return { status: r.status, body, text, type: r.headers.get('content-type') || '' };
}
const hasKeys = (o, keys) => o && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));

async function main() {
  const mode = args.mode;
  // ---- Health and the HTTP API ----------------------------------------------------
  const hs = await unary(subClient, 'Health');
  const hp = await unary(pubClient, 'Health');
  check(hs.status === true && hs.nodeMode === mode, 'Health: status true and nodeMode', JSON.stringify(hs));
  check(/\/p2p\/12D3KooW/.test(hp.p2pAddress), 'Health: p2pAddress with peer id', hp.p2pAddress);
  check(hs.memoryUsed > 0 && hs.memoryUsed <= 100 && hs.diskUsed >= 0 && hs.country === 'unknown',
    'Health: percentages and country', JSON.stringify(hs));
  const pubPeer = hp.p2pAddress.split('/p2p/')[1];

  const h = await getJSON(args['sub-api'], '/api/v1/health');
  check(h.status === 200 && hasKeys(h.body, ['status', 'mode', 'cpu_used', 'memory_used', 'disk_used', 'country', 'country_iso'])
    && h.body.status === 'ok' && typeof h.body.cpu_used === 'string' && h.body.mode === mode, 'GET /api/v1/health keys', h.text);
  const v = await getJSON(args['sub-api'], '/api/v1/version');
  check(v.status === 200 && hasKeys(v.body, ['version', 'commit_hash']), 'GET /api/v1/version keys', v.text);
  const cfg = await getJSON(args['sub-api'], '/api/v1/config');
  check(cfg.status === 200 && cfg.body.NODE_MODE === mode && cfg.body.OPTIMUM_SHARD_FACTOR > 0, 'GET /api/v1/config', cfg.text);
  const st = await getJSON(args['pub-api'], '/api/v1/node-state');
  check(st.status === 200 && hasKeys(st.body, ['pub_key', 'country', 'country_iso', 'addresses', 'peers', 'topics'])
    && st.body.pub_key === pubPeer && st.body.peers.length >= 1, 'GET /api/v1/node-state keys and peers', st.text);
  const m = await fetch(`http://${args['sub-api']}/metrics`);
  const mt = await m.text();
  check(m.status === 200 && /^# TYPE weft_node_connections gauge$/m.test(mt) && /^weft_node_bytes_total\{direction="in"\} \d+$/m.test(mt)
    && /weft_node_decode_latency_seconds_bucket\{le="\+Inf"\}/.test(mt) && /weft_node_event_loop_lag_seconds_count \d+/.test(mt),
    'GET /metrics in Prometheus text format', mt.slice(0, 200));
  const nf = await getJSON(args['sub-api'], '/api/v1/nope');
  check(nf.status === 404 && nf.body && nf.body.error, 'unknown path: 404 with a JSON error', nf.text);

  // ---- subscribe on one node, publish on the other ----------------------------------
  const topic = `weft-test-${crypto.randomBytes(4).toString('hex')}`;
  const sub = open(subClient);
  sub.call.write(req(2, topic));
  const pub = open(pubClient);
  // The subscription has to reach the publisher's node: publish probes until one arrives.
  let probeOk = false;
  for (let i = 0; i < 40 && !probeOk; i++) {
    await publish(pub, topic, Buffer.from(`probe ${i}`));
    probeOk = await sub.wait(() => sub.msgs.length > 0, 500);
  }
  check(probeOk, 'a message published on one node reaches a subscriber on the other');
  await sleep(300);
  sub.msgs.length = 0;

  const sent = [];
  for (let i = 0; i < 20; i++) {
    const data = crypto.randomBytes(100 + i * 997);
    const ack = await publish(pub, topic, data);
    sent.push({ data, ack });
  }
  check(sent.every((s) => s.ack && s.ack.status === 'published' && /^[0-9a-f]+$/.test(s.ack.message_id) && s.ack.topic === topic),
    'publish replies carry status, topic and message_id', JSON.stringify(sent[0].ack));
  await sub.wait(() => sub.msgs.length >= 20, 15000);
  const byId = new Map(sub.msgs.map((x) => [x.message_id, x]));
  const allThere = sent.every((s) => {
    const d = byId.get(s.ack.message_id);
    return d && Buffer.from(d.message, 'base64').equals(s.data) && d.topic === topic && d.source_node_id === pubPeer;
  });
  check(allThere, '20 messages delivered with message, topic, message_id, source_node_id', `${sub.msgs.length} delivered`);
  check(sub.msgs.every((x) => hasKeys(x, ['source_node_id', 'topic', 'message_id', 'message']) &&
    (x.upstream_peer_id === undefined || /^12D3KooW/.test(x.upstream_peer_id))), 'delivered JSON keys (upstream_peer_id omitted or a peer id)');
  check(new Set(sub.msgs.map((x) => x.message_id)).size === sub.msgs.length, 'each message delivered once');

  // ---- traces ------------------------------------------------------------------------
  const wantCmd = mode === 'gossipsub' ? 3 : 2;
  check(sub.traces.length > 0 && sub.traces.every((t) => t.command === wantCmd), `trace events streamed as command ${wantCmd}`, sub.traces.length);
  const events = sub.traces.map((t) => traceType.decode(t.data));
  const deliver = events.filter((e) => e.type === 3 && e.deliverMessage);
  check(deliver.length >= 20 && deliver.every((e) => Math.abs(Number(e.timestamp) / 1e6 - Date.now()) < 600000),
    'DELIVER_MESSAGE traces with unix-ns timestamps', deliver.length);
  if (mode !== 'gossipsub')
    check(events.some((e) => e.type === 16 && e.newShard && e.newShard.coefficients && e.newShard.coefficients.length > 0),
      'NEW_SHARD traces carry coefficients');

  // ---- ListTopics ----------------------------------------------------------------------
  const tl = await unary(subClient, 'ListTopics');
  check(tl.topics.includes(topic), 'ListTopics lists the subscribed topic', JSON.stringify(tl.topics));
  const tp = await getJSON(args['pub-api'], `/api/v1/topics?topic=${topic}&nodeinfo=true`);
  check(tp.status === 200 && tp.body.topics[0].topic === topic && tp.body.topics[0].peer_count >= 1 &&
    tp.body.topics[0].peers.some((p) => hasKeys(p, ['peer_id', 'address', 'connection'])), 'GET /api/v1/topics?topic=&nodeinfo=true', tp.text);
  const snap = await getJSON(args['sub-api'], '/api/v1/p2p-snapshot');
  check(snap.status === 200 && hasKeys(snap.body, ['seen_message_hashes', 'fully_decoded_message_hashes', 'undecoded_shard_buffer_sizes',
    'total_peer_count', 'full_message_node_count', 'partial_message_node_count', 'connected_peers']) &&
    snap.body.fully_decoded_message_hashes.length > 0, 'GET /api/v1/p2p-snapshot keys', snap.text.slice(0, 200));
  const dp = await getJSON(args['sub-api'], '/debug/peers');
  check(dp.status === 200 && dp.body.peers.length >= 1, 'GET /debug/peers', dp.text.slice(0, 200));

  // ---- bad input -------------------------------------------------------------------------
  const big = await publish(pub, topic, Buffer.alloc(1048577, 7));
  check(big && big.status === 'error' && /MAX_MSG_SIZE/.test(big.error), 'an oversize publish is refused with the variable named', JSON.stringify(big));
  const noTopic = await publish(pub, '', Buffer.from('x'));
  check(noTopic && noTopic.status === 'error' && /topic/.test(noTopic.error), 'a publish without a topic is refused', JSON.stringify(noTopic));
  pub.call.write(req(99, topic));
  const afterBad = await publish(pub, topic, Buffer.from('still alive'));
  check(afterBad && afterBad.status === 'published', 'an unknown command leaves the stream usable');

  // ---- SubscribeToTopics, unsubscribe ---------------------------------------------------
  const t2 = `${topic}-b`, t3 = `${topic}-c`;
  const multi = open(subClient);
  multi.call.write(req(4, `${t2},${t3}`));
  let got = false;
  for (let i = 0; i < 30 && !got; i++) {
    await publish(pub, t2, Buffer.from(`m2 ${i}`));
    await publish(pub, t3, Buffer.from(`m3 ${i}`));
    got = await multi.wait(() => multi.msgs.some((x) => x.topic === t2) && multi.msgs.some((x) => x.topic === t3), 500);
  }
  check(got, 'SubscribeToTopics (comma-separated) delivers both topics');
  sub.call.write(req(3, topic));
  await sleep(1500);
  const n0 = sub.msgs.length;
  await publish(pub, topic, Buffer.from('after unsubscribe'));
  await sleep(1500);
  check(sub.msgs.length === n0, 'no deliveries after UnSubscribeToTopic', sub.msgs.length - n0);

  // ---- a publisher that half-closes gets its reply and a clean end ------------------------
  const hc = open(pubClient);
  hc.call.write(req(1, topic, Buffer.from('half-close')));
  hc.call.end();
  await hc.wait(() => hc.ended, 10000);
  check(hc.acks.length === 1 && hc.acks[0].message_id && hc.ended === 'end', 'publish then half-close: one reply, stream ends OK',
    JSON.stringify({ acks: hc.acks, ended: String(hc.ended) }));

  sub.call.end(); multi.call.end(); pub.call.end();
  console.log(`sidecar_test: ${passed} passed, ${failed} failed (${mode})`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('sidecar_test:', e); process.exit(1); });
setTimeout(() => { console.error('sidecar_test: timed out'); process.exit(1); }, 120000).unref();
