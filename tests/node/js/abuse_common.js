// SPDX-License-Identifier: Apache-2.0
//
// What the gRPC abuse scripts share (grpc_abuse.js for a node's sidecar,
// proxy_grpc_abuse.js for the proxy): arguments, checks, the RSS sampler of
// the process under attack, and the garbage-on-the-port round.
'use strict';
const fs = require('fs');
const net = require('net');
const crypto = require('crypto');

function args(name, required) {
  const a = {};
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  for (const k of required)
    if (!a[k]) { console.error(`${name}: --${k} is required`); process.exit(2); }
  return a;
}

// check() prints one line and counts failures; rss() and peak() read the
// process pid (sampled every 50 ms until stop()).
function harness(pid) {
  const h = { failed: 0, peak: 0 };
  h.check = (ok, what, detail) => {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail !== undefined ? ': ' + detail : ''}`);
    if (!ok) h.failed++;
  };
  h.rss = () => {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? +m[1] / 1024 : -1;
  };
  const sampler = setInterval(() => { try { h.peak = Math.max(h.peak, h.rss()); } catch (e) { /* gone */ } }, 50);
  h.stop = () => clearInterval(sampler);
  return h;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// sanitizers (ASan quarantine, shadow memory) multiply the footprint
const RSS_BOUND_MIB = process.env.WEFT_TEST_SANITIZED ? 1500 : 300;
const COPTS = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };

// Three payloads that are not HTTP/2 (random, HTTP/1.1, a TLS hello): each
// must make the server close the connection within 5 s.
async function garbage(h, hostport) {
  const [host, port] = [hostport.split(':')[0], +hostport.split(':')[1]];
  for (const junk of [crypto.randomBytes(4096), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'latin1')]) {
    const closed = await new Promise((ok) => {
      const s = net.connect(port, host, () => s.write(junk));
      s.on('data', () => {}); // flowing, so that the server's close is seen
      s.on('close', () => ok(true)); s.on('error', () => {});
      setTimeout(() => { s.destroy(); ok(false); }, 5000);
    });
    h.check(closed, `garbage (${junk.length} bytes) closes the connection`);
  }
}

module.exports = { args, harness, sleep, garbage, RSS_BOUND_MIB, COPTS };
