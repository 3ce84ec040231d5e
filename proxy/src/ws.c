/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /api/v1/ws?client_id=ID: a WebSocket per subscriber; one text frame
 * per delivery (the message JSON). With auth on the Authorization header
 * must carry a valid token and its subject is the client id. A client that
 * reads too slowly is closed with 1008 and the drop counted
 * (weft_proxy_dropped_total{reason="slow_consumer"}); others are unaffected.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "proxy.h"
#include "weft/svc_ws.h"

static int
ws_open(void *user, weft_ws_conn *c, const weft_http_req *req, weft_http_resp *reject)
{
    proxy *p = user;
    char id[PX_ID_MAX + 1];
    if (p->cfg.enable_auth) {
        if (px_auth_check(p, req->authorization, req->authorization_len, id, sizeof id, 0, 0,
                          reject))
            return -1;
    } else {
        int n = weft_http_query_get(req->query, req->query_len, "client_id", id, sizeof id);
        if (n <= 0) {
            weft_http_reply_error(reject, 400, "missing client ID");
            return -1;
        }
        for (int i = 0; i < n; i++)
            if ((unsigned char)id[i] < 0x20) {
                weft_http_reply_error(reject, 400, "client_id: control characters");
                return -1;
            }
    }
    char *dup = strdup(id);
    if (!dup) {
        weft_http_reply_error(reject, 503, "out of memory");
        return -1;
    }
    weft_ws_ref(c); /* the engine's reference, dropped at close */
    weft_ws_set_user(c, dup);
    if (px_engine_attach(p->engine, id, PX_SINK_WS, c) < 0) {
        weft_ws_set_user(c, NULL);
        weft_ws_unref(c);
        free(dup);
        weft_http_reply_error(reject, 429, "too many connections for this client");
        return -1;
    }
    weft_metric_gauge_add(p->m.ws_clients, 1);
    return 0;
}

static void
ws_close(void *user, weft_ws_conn *c, int code)
{
    proxy *p = user;
    char *id = weft_ws_user(c);
    if (!id)
        return;
    if (code == WEFT_WS_POLICY)
        weft_metric_inc(p->m.dropped_slow);
    px_engine_detach(p->engine, id, PX_SINK_WS, c);
    weft_metric_gauge_add(p->m.ws_clients, -1);
    weft_ws_set_user(c, NULL);
    free(id);
    weft_ws_unref(c);
}

const weft_ws_handlers px_ws_handlers = {.on_open = ws_open, .on_close = ws_close};
