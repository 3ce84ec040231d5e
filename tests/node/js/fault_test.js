// SPDX-License-Identifier: Apache-2.0
//
// Faults under load, with real clients (fetch, ws): 200 publishes a second
// through proxy 2 while
//   A. a node is killed with SIGKILL and restarted: every publish the proxy
//      answered 200 reaches the WebSocket subscriber on proxy 1 (at least
//      once), and the node rejoins (both proxies see every node again);
//   B. proxy 1 is killed with SIGKILL: its subscriber reconnects to proxy 2
//      and receives every publish answered after it reconnected.
//
// usage: node fault_test.js --p1 HOST:REST --p2 HOST:REST --node-pid PID
//        --restart FILE (a script that starts the node again) --node-api HOST:PORT
//        --proxy1-pid PID --nodes N [--seconds S] [--rate R]
'use strict';
const crypto = require('crypto');
const { spawnSync } = require('child_process');
const WebSocket = require('ws');

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['p1', 'p2', 'node-pid', 'restart', 'node-api', 'proxy1-pid', 'nodes'])
  if (!a[k]) { console.error(`fault_test: --${k} is required`); process.exit(2); }
const SECONDS = +(a.seconds || 10), RATE = +(a.rate || 200);

let failed = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail !== undefined ? ': ' + detail : ''}`);
  if (!ok) failed++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return true; await sleep(100); }
  return pred();
}
async function post(hp, p, body) {
  try {
    const r = await fetch(`http://${hp}${p}`, { method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) });
    return { status: r.status, text: await r.text() };
  } catch (e) { return { status: 0, text: String(e) }; }
}
async function getJson(hp, p) {
  try { return await (await fetch(`http://${hp}${p}`, { signal: AbortSignal.timeout(2000) })).json(); }
  catch (e) { return null; }
}

// A WebSocket subscriber that records every message text it receives.
function subscriber(hp, client) {
  const got = new Map(); // text -> count
  const ws = new WebSocket(`ws://${hp}/api/v1/ws?client_id=${client}`);
  const st = { ws, got, closed: false };
  st.open = new Promise((ok, ko) => { ws.on('open', ok); ws.on('error', ko); });
  ws.on('message', (m) => {
    const j = JSON.parse(m.toString());
    const t = Buffer.from(j.message, 'base64').toString();
    got.set(t, (got.get(t) || 0) + 1);
  });
  ws.on('close', () => { st.closed = true; });
  ws.on('error', () => {});
  return st;
}

// RATE publishes a second for SECONDS through hp; events[t] run at t ms.
// Returns the accepted messages with the time the proxy answered.
async function load(hp, topic, tag, events) {
  const accepted = [], refused = [];
  const t0 = Date.now(), total = SECONDS * RATE, inflight = new Set();
  const pending = Object.entries(events).map(([t, fn]) => ({ t: +t, fn })).sort((x, y) => x.t - y.t);
  for (let i = 0; i < total; i++) {
    while (pending.length && Date.now() - t0 >= pending[0].t) await pending.shift().fn();
    const due = t0 + (i * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    while (inflight.size >= 64) await Promise.race(inflight);
    const text = `${tag} ${i} ${crypto.randomBytes(4).toString('hex')}`;
    const p = post(hp, '/api/v1/publish', { client_id: 'loader', topic, message: text }).then((r) => {
      if (r.status === 200 && /"published"/.test(r.text)) accepted.push({ text, at: Date.now() });
      else refused.push(r.status);
      inflight.delete(p);
    });
    inflight.add(p);
  }
  await Promise.all(inflight);
  while (pending.length) await pending.shift().fn();
  return { accepted, refused };
}

async function main() {
  const topic = `fault-${crypto.randomBytes(4).toString('hex')}`;
  const nodes = +a.nodes;
  // ---- A: a node killed and restarted under load -----------------------------------------
  for (const [hp, c] of [[a.p1, 'sub-a'], [a.p2, 'sub-b']]) {
    const r = await post(hp, '/api/v1/subscribe', { client_id: c, topic });
    check(r.status === 200, `subscribe ${c}`, r.text);
  }
  const s = subscriber(a.p1, 'sub-a');
  await s.open;
  await sleep(1500); // the mesh grafts the topic
  const A = await load(a.p2, topic, 'A', {
    [Math.round(SECONDS * 300)]: async () => { process.kill(+a['node-pid'], 'SIGKILL'); },
    [Math.round(SECONDS * 600)]: async () => {
      const r = spawnSync('bash', [a.restart], { stdio: 'inherit' });
      check(r.status === 0, 'the killed node was started again');
    },
  });
  check(A.accepted.length >= SECONDS * RATE * 0.5, `A: the proxy accepted most publishes`,
    `${A.accepted.length} of ${SECONDS * RATE}, refused ${A.refused.length}`);
  await until(() => A.accepted.every((m) => s.got.has(m.text)), 20000);
  const lostA = A.accepted.filter((m) => !s.got.has(m.text));
  check(lostA.length === 0, 'A: every accepted publish reached the subscriber',
    `${lostA.length} of ${A.accepted.length} missing (first: ${lostA.slice(0, 3).map((m) => m.text)})`);
  const dupA = [...s.got.values()].filter((n) => n > 1).length;
  console.log(`info A: ${A.accepted.length} accepted, ${A.refused.length} refused, ${dupA} received twice`);
  const rejoined = await until(async () => {
    const st = await getJson(a['node-api'], '/api/v1/node-state');
    const h1 = await getJson(a.p1, '/api/v1/health'), h2 = await getJson(a.p2, '/api/v1/health');
    return st && st.peers && st.peers.length >= 1 && h1 && h1.nodes_connected === nodes &&
      h2 && h2.nodes_connected === nodes;
  }, 20000);
  check(rejoined, 'A: the restarted node rejoined the mesh and both proxies');

  // ---- B: proxy 1 killed; its subscriber moves to proxy 2 --------------------------------
  let moved = null, reconnectedAt = 0;
  const B = await load(a.p2, topic, 'B', {
    [Math.round(SECONDS * 300)]: async () => {
      process.kill(+a['proxy1-pid'], 'SIGKILL');
      await until(() => s.closed, 5000);
      moved = subscriber(a.p2, 'sub-b');
      await moved.open;
      reconnectedAt = Date.now();
    },
  });
  check(s.closed && moved !== null, 'B: the subscriber saw proxy 1 go and reconnected to proxy 2');
  const after = B.accepted.filter((m) => m.at > reconnectedAt + 200);
  await until(() => after.every((m) => moved.got.has(m.text)), 20000);
  const lostB = after.filter((m) => !moved.got.has(m.text));
  check(after.length > 0 && lostB.length === 0,
    'B: every publish accepted after the reconnect reached the subscriber on proxy 2',
    `${lostB.length} of ${after.length} missing`);
  moved.ws.close();
  console.log(`fault_test: ${failed ? 'FAILED' : 'ok'}`);
  process.exit(failed ? 1 : 0);
}
main().catch((e) => { console.error('fault_test:', e); process.exit(1); });
setTimeout(() => { console.error('fault_test: timed out'); process.exit(1); }, 170000).unref();
