/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared subscriptions (proxy/src/share.c): a record one proxy publishes is
 * applied by another of its group, once however many nodes deliver it, and
 * never by its own origin; with WEFT_SHARE_KEY only correctly signed records
 * are; every malformed, foreign, stale, future, oversize or reserved-topic
 * record is refused and counted, and subscribes nobody. Sharing stays off
 * with auth on and no key.
 *
 * A client attaching on a proxy makes it ask ("want") for the client's
 * subscriptions; a proxy holding them answers with one record each; both
 * are rate-limited per client.
 *
 * share.c's collaborators are recorders defined here (px_pool_publish_control,
 * px_pool_subscribe, px_engine_subscribe_shared, px_engine_subs), so no
 * node, engine or thread is involved.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "proxy.h"
#include "weft/clock.h"
#include "weft/encoding.h"

#define MAX_REC 64

static char g_published[MAX_REC][2048]; /* records px_pool_publish_control got */
static char g_pub_topic[MAX_REC][PX_TOPIC_MAX + 1];
static size_t g_npub;
static struct {
    char client[PX_ID_MAX + 1], topic[PX_TOPIC_MAX + 1];
    double t;
} g_applied[MAX_REC];
static size_t g_napplied;
static char g_subscribed[8][PX_TOPIC_MAX + 1];
static size_t g_nsubscribed;

int
px_pool_publish_control(px_pool *pl, const char *topic, const uint8_t *data, size_t len)
{
    (void)pl;
    cr_assert_lt(g_npub, MAX_REC);
    cr_assert_lt(len, sizeof g_published[0]);
    memcpy(g_published[g_npub], data, len);
    g_published[g_npub][len] = 0;
    snprintf(g_pub_topic[g_npub], sizeof g_pub_topic[0], "%s", topic);
    g_npub++;
    return 0;
}

int
px_pool_subscribe(px_pool *pl, const char *topic)
{
    (void)pl;
    cr_assert_lt(g_nsubscribed, 8);
    snprintf(g_subscribed[g_nsubscribed++], PX_TOPIC_MAX + 1, "%s", topic);
    return 0;
}

int
px_engine_subscribe_shared(px_engine *e, const char *client, const char *topic, double threshold)
{
    (void)e;
    cr_assert_lt(g_napplied, MAX_REC);
    snprintf(g_applied[g_napplied].client, sizeof g_applied[0].client, "%s", client);
    snprintf(g_applied[g_napplied].topic, sizeof g_applied[0].topic, "%s", topic);
    g_applied[g_napplied].t = threshold;
    g_napplied++;
    return 0;
}

/* what the engine "holds" for px_engine_subs: n topics of one client */
static char g_held_client[PX_ID_MAX + 1];
static size_t g_held_n;

size_t
px_engine_subs(px_engine *e, const char *client, char (*topics)[PX_TOPIC_MAX + 1], double *th,
               size_t max)
{
    (void)e;
    if (strcmp(client, g_held_client))
        return 0;
    size_t k = 0;
    for (; k < g_held_n && k < max; k++) {
        snprintf(topics[k], PX_TOPIC_MAX + 1, "held-%zu", k);
        th[k] = 0.25;
    }
    return k;
}

static proxy g_a, g_b; /* two proxies of one group */

static void
setup_proxy(proxy *p, const char *name, const char *key, const char *group)
{
    memset(p, 0, sizeof *p);
    p->cfg.cluster_id = name;
    p->cfg.share = 1;
    p->cfg.share_group = group;
    p->cfg.share_key = key;
    p->cfg.share_ttl_ms = 600000;
    p->metrics = weft_metrics_new();
    cr_assert_not_null(p->metrics);
    p->m.share_sent = weft_metrics_counter(p->metrics, "s_total", "h", "o=\"sent\"");
    p->m.share_applied = weft_metrics_counter(p->metrics, "s_total", "h", "o=\"applied\"");
    p->m.share_refused = weft_metrics_counter(p->metrics, "s_total", "h", "o=\"refused\"");
    cr_assert_eq(px_share_start(p), 0);
}

static void
start(const char *key)
{
    g_npub = g_napplied = g_nsubscribed = 0;
    g_held_n = 0;
    g_held_client[0] = 0;
    setup_proxy(&g_a, "proxy-1", key, "weft");
    setup_proxy(&g_b, "proxy-2", key, "weft");
}

static void
stop(void)
{
    px_share_stop(&g_a);
    px_share_stop(&g_b);
    weft_metrics_free(g_a.metrics);
    weft_metrics_free(g_b.metrics);
}

TestSuite(proxy_share, .fini = stop);

/* Deliver record text to p as node `node` would, on topic. */
static void
deliver(proxy *p, int node, const char *topic, const char *record)
{
    size_t n = strlen(record);
    char *b64 = malloc(n * 2 + 8), *json = malloc(n * 2 + 512);
    cr_assert(b64 && json);
    cr_assert_geq(weft_base64_encode((const uint8_t *)record, n, b64, n * 2 + 8), 0);
    snprintf(json, n * 2 + 512,
             "{\"source_node_id\":\"x\",\"topic\":\"%s\",\"message_id\":\"ab\",\"message\":\"%s\"}",
             topic, b64);
    cr_assert_not_null(p->on_control);
    p->on_control(p, node, json, strlen(json));
    free(b64);
    free(json);
}

static double
refused(const proxy *p)
{
    return weft_metric_value(p->m.share_refused);
}

Test(proxy_share, a_record_reaches_the_other_proxy_once)
{
    start(NULL);
    cr_expect_str_eq(g_subscribed[0], "_weft/share/weft", "the control topic is subscribed");
    cr_assert_not_null(g_a.on_subscribed);
    g_a.on_subscribed(&g_a, "alice", "news", 0.5);
    cr_assert_eq(g_npub, 1);
    cr_expect_str_eq(g_pub_topic[0], "_weft/share/weft");
    /* every node delivers it; B applies it once */
    for (int node = 0; node < 4; node++)
        deliver(&g_b, node, "_weft/share/weft", g_published[0]);
    cr_assert_eq(g_napplied, 1);
    cr_expect_str_eq(g_applied[0].client, "alice");
    cr_expect_str_eq(g_applied[0].topic, "news");
    cr_expect_float_eq(g_applied[0].t, 0.5, 1e-9);
    cr_expect_eq(weft_metric_value(g_b.m.share_applied), 1);
    /* back at its origin it is skipped, not refused */
    deliver(&g_a, 0, "_weft/share/weft", g_published[0]);
    cr_expect_eq(g_napplied, 1);
    cr_expect_eq(refused(&g_a), 0);
    /* another group's topic is not ours */
    deliver(&g_b, 0, "_weft/share/other", g_published[0]);
    cr_expect_eq(g_napplied, 1);
}

/* A record as text with one field replaced (or removed with NULL). */
static char *
edited(const char *rec, const char *field, cJSON *value)
{
    cJSON *o = cJSON_Parse(rec);
    cr_assert_not_null(o);
    cJSON_DeleteItemFromObjectCaseSensitive(o, field);
    if (value)
        cJSON_AddItemToObject(o, field, value);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

Test(proxy_share, malformed_records_are_refused_and_counted)
{
    start(NULL);
    g_a.on_subscribed(&g_a, "bob", "t", 0.2);
    const char *good = g_published[0];
    char longid[200], longtopic[300];
    memset(longid, 'c', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;
    memset(longtopic, 't', sizeof longtopic - 1);
    longtopic[sizeof longtopic - 1] = 0;
    double now = (double)weft_unix_ms();
    struct {
        const char *field;
        cJSON *value;
    } bad[] = {
        {"v", cJSON_CreateNumber(2)},
        {"op", cJSON_CreateString("unsub")},
        {"g", cJSON_CreateString("elsewhere")},
        {"o", NULL},
        {"c", NULL},
        {"c", cJSON_CreateString(longid)},
        {"c", cJSON_CreateString("ctl\x01")},
        {"t", cJSON_CreateString(longtopic)},
        {"t", cJSON_CreateString("_weft/share/weft")},
        {"th", cJSON_CreateNumber(0.01)},
        {"th", cJSON_CreateNumber(1.5)},
        {"th", cJSON_CreateString("0.5")},
        {"ts", cJSON_CreateNumber(now - 601000)},
        {"ts", cJSON_CreateNumber(now + 120000)},
        {"ts", NULL},
        {"n", cJSON_CreateString("XYZ")},
        {"n", NULL},
    };
    size_t nbad = sizeof bad / sizeof *bad;
    for (size_t i = 0; i < nbad; i++) {
        char *r = edited(good, bad[i].field, bad[i].value);
        deliver(&g_b, 0, "_weft/share/weft", r);
        cr_expect_eq(refused(&g_b), (double)(i + 1), "record %zu (%s) not refused: %s", i,
                     bad[i].field, r);
        free(r);
    }
    /* not JSON, not an object, not base64, too big */
    size_t before = (size_t)refused(&g_b);
    deliver(&g_b, 0, "_weft/share/weft", "not json");
    deliver(&g_b, 0, "_weft/share/weft", "[1,2]");
    char *big = malloc(4096);
    memset(big, ' ', 4095);
    big[4095] = 0;
    memcpy(big, good, strlen(good));
    deliver(&g_b, 0, "_weft/share/weft", big);
    free(big);
    const char *nob64 = "{\"topic\":\"_weft/share/weft\",\"message_id\":\"a\",\"message\":\"!!!\"}";
    g_b.on_control(&g_b, 0, nob64, strlen(nob64));
    cr_expect_eq((size_t)refused(&g_b), before + 4);
    cr_expect_eq(g_napplied, 0, "a bad record subscribed someone");
    /* the good one still works */
    deliver(&g_b, 0, "_weft/share/weft", good);
    cr_expect_eq(g_napplied, 1);
}

Test(proxy_share, with_a_key_only_signed_records_apply)
{
    start("a-shared-secret-of-some-length");
    g_a.on_subscribed(&g_a, "carol", "signed", 0.3);
    cr_assert_eq(g_npub, 1);
    cr_assert(strstr(g_published[0], "\"mac\":\""), "no mac in %s", g_published[0]);
    char *forged = edited(g_published[0], "c", cJSON_CreateString("mallory"));
    deliver(&g_b, 0, "_weft/share/weft", forged);
    free(forged);
    char *unsigned_rec = edited(g_published[0], "mac", NULL);
    deliver(&g_b, 0, "_weft/share/weft", unsigned_rec);
    free(unsigned_rec);
    cr_expect_eq(refused(&g_b), 2);
    cr_expect_eq(g_napplied, 0);
    deliver(&g_b, 0, "_weft/share/weft", g_published[0]);
    cr_assert_eq(g_napplied, 1);
    cr_expect_str_eq(g_applied[0].client, "carol");
    /* a proxy with another key refuses it */
    proxy c;
    setup_proxy(&c, "proxy-3", "another-secret-entirely", "weft");
    deliver(&c, 0, "_weft/share/weft", g_published[0]);
    cr_expect_eq(refused(&c), 1);
    cr_expect_eq(g_napplied, 1);
    px_share_stop(&c);
    weft_metrics_free(c.metrics);
}

Test(proxy_share, off_with_auth_and_no_key, .fini = NULL)
{
    proxy p;
    memset(&p, 0, sizeof p);
    p.cfg.cluster_id = "x";
    p.cfg.share = 1;
    p.cfg.share_group = "weft";
    p.cfg.enable_auth = 1;
    cr_assert_eq(px_share_start(&p), 0);
    cr_expect_null(p.on_subscribed);
    cr_expect_null(p.on_control);
    p.cfg.enable_auth = 0;
    p.cfg.share = 0;
    cr_assert_eq(px_share_start(&p), 0);
    cr_expect_null(p.on_subscribed);
}

Test(proxy_share, a_want_is_answered_with_the_subscriptions_held)
{
    start("a-shared-secret-of-some-length");
    snprintf(g_held_client, sizeof g_held_client, "dave");
    g_held_n = 3;
    /* dave attaches on B, which asks; once per client per 5 s */
    cr_assert_not_null(g_b.on_attached);
    g_b.on_attached(&g_b, "dave");
    g_b.on_attached(&g_b, "dave");
    cr_assert_eq(g_npub, 1, "a second attach within 5 s asked again");
    cr_assert(strstr(g_published[0], "\"op\":\"want\""), "%s", g_published[0]);
    cr_expect(!strstr(g_published[0], "\"t\":"), "a want carries no topic: %s", g_published[0]);
    /* A answers with one sub record per topic it holds */
    deliver(&g_a, 0, "_weft/share/weft", g_published[0]);
    cr_assert_eq(g_npub, 4, "A answered %zu records", g_npub - 1);
    /* every node delivers the want: answered once */
    deliver(&g_a, 1, "_weft/share/weft", g_published[0]);
    cr_expect_eq(g_npub, 4);
    for (size_t i = 1; i < 4; i++)
        deliver(&g_b, 0, "_weft/share/weft", g_published[i]);
    cr_assert_eq(g_napplied, 3);
    cr_expect_str_eq(g_applied[2].client, "dave");
    cr_expect_str_eq(g_applied[2].topic, "held-2");
    cr_expect_float_eq(g_applied[2].t, 0.25, 1e-9);
    /* a client nobody holds gets no answer; a want with a topic is refused */
    g_b.on_attached(&g_b, "erin");
    deliver(&g_a, 0, "_weft/share/weft", g_published[4]);
    cr_expect_eq(g_npub, 5);
    char *bad = edited(g_published[4], "t", cJSON_CreateString("x"));
    double r0 = refused(&g_a);
    deliver(&g_a, 0, "_weft/share/weft", bad);
    free(bad);
    cr_expect_eq(refused(&g_a), r0 + 1);
}
