// SPDX-License-Identifier: Apache-2.0
//
// WebSocket fan-out measurement (a tool, not a test): open N connections to
// a WebSocket URL (client_id=<prefix><i> is appended), wait for one message
// on each, and report as JSON how long the fan-out took from the first
// arrival to the last. Whoever sends the message (a proxy publish, or a
// program that broadcasts once it sees N clients) is outside this tool.
//
// usage: node ws_fanout.js --url ws://127.0.0.1:8080/api/v1/ws --n 10000
//          [--concurrency 256] [--timeout 60] [--prefix fan] [--token JWT]
// Prints {"ready":N} on stderr once every connection is open, then one JSON
// summary line on stdout: n, opened, received, errors, connect_ms,
// first_to_last_ms, first_at_ms and last_at_ms (epoch milliseconds, for
// comparing with the sender's clock). Exits 0 when every connection got a
// message. Raise the shell's descriptor limit first (ulimit -n) for large N.
'use strict';
const WebSocket = require('ws');

const a = { n: '100', concurrency: '256', timeout: '60', prefix: 'fan' };
for (let i = 2; i < process.argv.length; i++) a[process.argv[i].replace(/^--/, '')] = process.argv[++i];
if (!a.url) {
  console.error('ws_fanout: --url is required');
  process.exit(2);
}
const n = parseInt(a.n, 10), concurrency = parseInt(a.concurrency, 10);
const nowMs = () => performance.timeOrigin + performance.now();

const socks = [];
let opened = 0, received = 0, errors = 0, started = 0, firstAt = 0, lastAt = 0;
const t0 = nowMs();
let connectMs = 0;

function finish(code) {
  const out = {
    n, opened, received, errors,
    connect_ms: Math.round(connectMs),
    first_to_last_ms: received ? +(lastAt - firstAt).toFixed(3) : null,
    first_at_ms: firstAt ? +firstAt.toFixed(3) : null,
    last_at_ms: lastAt ? +lastAt.toFixed(3) : null,
  };
  console.log(JSON.stringify(out));
  for (const s of socks) s.terminate();
  process.exit(code);
}

function openOne() {
  if (started >= n) return;
  const i = started++;
  const sep = a.url.includes('?') ? '&' : '?';
  const headers = a.token ? { Authorization: `Bearer ${a.token}` } : {};
  // spread over 16 loopback source addresses, as clients behind many hosts
  // are: the server caps connections per address (4096 by default)
  const localAddress = a.url.includes('//127.') ? `127.0.${1 + (i % 16)}.1` : undefined;
  const ws = new WebSocket(`${a.url}${sep}client_id=${a.prefix}${i}`,
                           { headers, perMessageDeflate: false, localAddress });
  let got = false;
  socks.push(ws);
  ws.on('open', () => {
    opened++;
    if (opened === n) {
      connectMs = nowMs() - t0;
      console.error(JSON.stringify({ ready: n }));
    }
    openOne();
  });
  ws.on('message', () => {
    if (got) return;
    got = true;
    const t = nowMs();
    if (received === 0) firstAt = t;
    lastAt = t;
    if (++received === n) finish(0);
  });
  ws.on('error', () => { errors++; });
  ws.on('close', () => { if (!got && opened < n) openOne(); });
}

for (let i = 0; i < Math.min(concurrency, n); i++) openOne();
setTimeout(() => finish(1), parseInt(a.timeout, 10) * 1000);
