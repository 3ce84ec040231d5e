// Node 20 has no Promise.withResolvers (Node 22 does); libp2p's queues call it.
// Import this module before anything else.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    const r = {}
    r.promise = new this((resolve, reject) => { r.resolve = resolve; r.reject = reject })
    return r
  }
}
