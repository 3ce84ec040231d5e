#!/usr/bin/env node
// A js-libp2p Kademlia DHT server (/ipfs/kad/1.0.0) for tests/interop/kad_js.sh.
//
//   node kad_peer.mjs [--peer MA]... [--timeout S]
//
// Listens on 127.0.0.1 (ephemeral port), dials every --peer, then reads one
// JSON command per line on stdin and answers each with one JSON line on stdout:
//   {"op":"find-peer","id":ID}        -> {"event":"find-peer","found":bool,"addrs":[...],"via":"query"|"local"}
//   {"op":"put-pk"}                   -> {"event":"put-pk","key":"/pk/<our id>","ok":bool,"stored":N}
//   {"op":"get","key":"/pk/<ID>"}     -> {"event":"get","found":bool,"value_hex":HEX}
//   {"op":"table"}                    -> {"event":"table","size":N}
// First line: {"event":"listening","addr":MA,"id":ID}.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import readline from 'node:readline'

const peers = []
let timeout = 120
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--peer') peers.push(argv[++i])
  else if (argv[i] === '--timeout') timeout = Number(argv[++i])
  else { console.error(`kad_peer: unknown argument ${argv[i]}`); process.exit(2) }
}

process.stdout.on('error', () => {})
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (u8) => Buffer.from(u8).toString('hex')

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({
      protocol: '/ipfs/kad/1.0.0',
      clientMode: false,
      // loopback addresses are what this test has: keep them
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true
    })
  }
})
const dht = node.services.dht
setTimeout(() => { say({ event: 'timeout' }); process.exit(1) }, timeout * 1000).unref()
const stop = async () => { await node.stop().catch(() => {}); process.exit(0) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

say({ event: 'listening', addr: node.getMultiaddrs()[0].toString(), id: node.peerId.toString() })
for (const p of peers) {
  try {
    await node.dial(multiaddr(p))
  } catch (err) {
    console.error(`kad_peer: dial ${p}: ${err.message}`)
  }
}

function keyBytes (text) {
  if (!text.startsWith('/pk/')) return new TextEncoder().encode(text)
  const mh = peerIdFromString(text.slice(4)).toMultihash().bytes
  const k = new Uint8Array(4 + mh.length)
  k.set(new TextEncoder().encode('/pk/'), 0)
  k.set(mh, 4)
  return k
}

async function run (cmd) {
  const signal = AbortSignal.timeout(30000)
  if (cmd.op === 'table') return { event: 'table', size: dht.routingTable.size }
  if (cmd.op === 'find-peer') {
    const target = peerIdFromString(cmd.id)
    for await (const ev of dht.findPeer(target, { signal })) {
      if (ev.name === 'FINAL_PEER') {
        return { event: 'find-peer', found: true, via: ev.from?.equals(node.peerId) ? 'local' : 'query', addrs: ev.peer.multiaddrs.map(String) }
      }
    }
    return { event: 'find-peer', found: false }
  }
  if (cmd.op === 'put-pk') {
    const key = keyBytes('/pk/' + node.peerId.toString())
    let stored = 0
    for await (const ev of dht.put(key, publicKeyToProtobuf(node.peerId.publicKey), { signal })) {
      if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') stored++
    }
    return { event: 'put-pk', key: '/pk/' + node.peerId.toString(), ok: stored > 0, stored, value_hex: hex(publicKeyToProtobuf(node.peerId.publicKey)) }
  }
  if (cmd.op === 'get') {
    for await (const ev of dht.get(keyBytes(cmd.key), { signal })) {
      if (ev.name === 'VALUE') return { event: 'get', found: true, value_hex: hex(ev.value), from: ev.from.toString() }
    }
    return { event: 'get', found: false }
  }
  return { event: 'error', error: `unknown op ${cmd.op}` }
}

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
  if (!line.trim()) continue
  try {
    say(await run(JSON.parse(line)))
  } catch (err) {
    say({ event: 'error', error: err.message ?? String(err) })
  }
}
await stop()
