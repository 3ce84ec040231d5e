#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A proxy carries all of its clients' topics on one sidecar stream per node.
# The node used to cap a stream at 64 topics, after which later
# subscriptions answered "subscribed" and delivered nothing. Here 100
# clients hold a topic each and the last ones still receive; at the proxy's
# limit (PX_MAX_TOPICS, the node's per-stream limit) a new topic is refused
# with 429, never accepted and dropped.
# usage: many_topics.sh WEFT_NODE WEFT_PROXY [optimum|gossipsub]
set -euo pipefail
WEFT_NODE=$1 WEFT_PROXY=$2 MODE=${3:-optimum}
here=$(cd "$(dirname "$0")/../node" && pwd)
. "$here/lib.sh"
[ -d "$here/js/node_modules/ws" ] || die "npm packages missing: run ci/install-deps.sh"

read -r -a P < <(free_ports 8)
start_node n1 "$MODE" "${P[0]}" "${P[1]}" "${P[2]}" ""
wait_api "127.0.0.1:${P[2]}" 10 || die "node 1 did not start"
id1=$(IDENTITY_DIR="$WEFT_TEST_TMP/n1" "$WEFT_NODE" peer-id)
start_node n2 "$MODE" "${P[3]}" "${P[4]}" "${P[5]}" "/ip4/127.0.0.1/tcp/${P[0]}/p2p/$id1"
wait_peers "127.0.0.1:${P[5]}" 1 20 || die "node 2 did not mesh"
env CLUSTER_ID=proxy-t PROXY_PORT=":${P[6]}" PROXY_GRPC_PORT=":${P[7]}" \
    P2P_NODES="127.0.0.1:${P[1]},127.0.0.1:${P[4]}" WEFT_LISTEN_IP=127.0.0.1 \
    "$WEFT_PROXY" >>"$WEFT_TEST_TMP/proxy.log" 2>&1 &
WEFT_TEST_PIDS+=("$!")
end=$((SECONDS + 15))
until curl -fsS -m 2 "http://127.0.0.1:${P[6]}/api/v1/health" 2>/dev/null | grep -q '"nodes_connected":2'; do
    [ $SECONDS -lt $end ] || die "the proxy did not connect to both nodes"
    sleep 0.2
done

NODE_PATH="$here/js/node_modules" timeout 120 node - "127.0.0.1:${P[6]}" <<'JS' || die "checks failed"
const WebSocket = require('ws');
const base = 'http://' + process.argv[2];
const post = async (path, body) => {
    const r = await fetch(base + path, {method: 'POST', body: JSON.stringify(body),
                                        headers: {'content-type': 'application/json'}});
    return {status: r.status, body: await r.text()};
};
const fail = (m) => { console.error('FAIL: ' + m); process.exit(1); };
(async () => {
    for (let i = 0; i < 100; i++) {
        const r = await post('/api/v1/subscribe', {client_id: 'c' + i, topic: 't' + i});
        if (r.status !== 200) fail(`subscribe c${i}: ${r.status} ${r.body}`);
    }
    // the topics past the old cap of 64 deliver
    for (const i of [70, 99]) {
        const ws = new WebSocket(`ws://${process.argv[2]}/api/v1/ws?client_id=c${i}`);
        await new Promise((ok, ko) => { ws.on('open', ok); ws.on('error', ko); });
        const got = new Promise((ok) => ws.on('message', (m) => ok(JSON.parse(m.toString()))));
        let msg = null;
        for (let k = 0; k < 40 && !msg; k++) { // the mesh may still be joining the topic
            const r = await post('/api/v1/publish', {client_id: 'p', topic: 't' + i,
                                                     message: `hello-${i}-${k}`});
            if (r.status !== 200) fail(`publish t${i}: ${r.status} ${r.body}`);
            msg = await Promise.race([got, new Promise((ok) => setTimeout(() => ok(null), 250))]);
        }
        if (!msg) fail(`client c${i} got nothing on topic t${i}`);
        const text = Buffer.from(msg.message, 'base64').toString();
        if (msg.topic !== 't' + i || !text.startsWith(`hello-${i}-`))
            fail(`c${i} got ${JSON.stringify(msg)}`);
        ws.close();
    }
    // fill the proxy's topic set up to its limit; the next topic is refused
    let refused = null;
    for (let i = 100; i < 1100 && !refused; i++) {
        const r = await post('/api/v1/subscribe', {client_id: 'd' + (i % 500), topic: 't' + i});
        if (r.status === 429) refused = {i, body: r.body};
        else if (r.status !== 200) fail(`subscribe t${i}: ${r.status} ${r.body}`);
    }
    if (!refused) fail('no topic was refused up to 1100 topics');
    // the limit is 1024 topics in all; the proxies' own control topic
    // (_weft/share/<group>) may take one of them
    if (refused.i < 1023 || refused.i > 1024) fail(`refused at topic ${refused.i}, want 1023..1024 (the limit)`);
    if (!/topic/i.test(refused.body)) fail(`refusal does not say why: ${refused.body}`);
    // a topic already carried is still fine
    const again = await post('/api/v1/subscribe', {client_id: 'late', topic: 't5'});
    if (again.status !== 200) fail(`carried topic refused: ${again.status} ${again.body}`);
    console.log('many_topics: 100 clients delivered past 64 topics; topic 1025 refused with 429');
})().catch((e) => fail(e.stack || e));
JS
curl -fsS "http://127.0.0.1:${P[6]}/metrics" | grep -Eq "^weft_proxy_subscribe_refused_total [1-9]" ||
    die "the refusal was not counted: $(curl -fsS "http://127.0.0.1:${P[6]}/metrics" | grep subscribe_refused)"
echo "many_topics ($MODE): ok"
