/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_svc_env: the environment parsers of weft-node (node/src/config.c),
 * weft-proxy (proxy/src/config.c) and the typed readers under both
 * (service/config/src/env.c), fed a fuzzed environment through
 * weft_env_set_source (no process environment is touched).
 *
 * Input: byte 0 picks the loader (node, proxy, or each reader on its own).
 * Then entries up to the end: one byte names the variable (an index in
 * the list of every variable the two programs read; beyond it, the name
 * is the bytes up to the next '='), then the value runs to the next NUL
 * byte. A later entry of a name replaces an earlier one.
 *
 * Oracles, by the grammar of spec/optimum-compat.md rather than by the
 * readers' code: a load succeeds or fails with WEFT_EINVAL and one
 * printable line that starts with the name of a variable; it is the same
 * twice in a row; when it succeeds, every variable that is set was
 * accepted only in its documented form (ports ":?digits" in 1..65535 and
 * equal to the value, integers "-?digits" equal to the value, reals in
 * decimal notation (no hex, inf or nan), booleans and choices from their
 * lists, strings without control bytes, the same pointer), the cross
 * checks hold (mesh min < target < max, at least one P2P node) and the
 * node's /api/v1/config JSON parses.
 */
#include "fuzz_util.h"

#include <ctype.h>
#include <math.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "proxy.h"
#include "weft/common.h"
#include "weft/svc_env.h"

enum { K_PORT, K_INT, K_REAL, K_STR, K_BOOL, K_CHOICE, K_LIST };

static const struct var {
    const char *name;
    int kind;
} vars[] = {
    {"NODE_MODE", K_CHOICE},
    {"CLUSTER_ID", K_STR},
    {"LOG_LEVEL", K_CHOICE},
    {"SIDECAR_PORT", K_PORT},
    {"API_PORT", K_PORT},
    {"OPTIMUM_PORT", K_PORT},
    {"GOSSIPSUB_PORT", K_PORT},
    {"IDENTITY_DIR", K_STR},
    {"BOOTSTRAP_PEERS", K_LIST},
    {"OPTIMUM_MAX_MSG_SIZE", K_INT},
    {"GOSSIPSUB_MAX_MSG_SIZE", K_INT},
    {"OPTIMUM_MESH_TARGET", K_INT},
    {"OPTIMUM_MESH_MIN", K_INT},
    {"OPTIMUM_MESH_MAX", K_INT},
    {"OPTIMUM_SHARD_FACTOR", K_INT},
    {"OPTIMUM_SHARD_MULT", K_REAL},
    {"OPTIMUM_THRESHOLD", K_REAL},
    {"WEFT_LISTEN_IP", K_STR},
    {"WEFT_GEOIP_DB", K_STR},
    {"WEFT_PUBLIC_IP", K_STR},
    {"WEFT_TRACE_RPC", K_BOOL},
    {"WEFT_CLIENT_QUEUE_BYTES", K_INT},
    {"PROXY_PORT", K_PORT},
    {"GATEWAY_PORT", K_PORT},
    {"PROXY_GRPC_PORT", K_PORT},
    {"ENABLE_AUTH", K_BOOL},
    {"AUTH0_DOMAIN", K_STR},
    {"AUTH0_AUDIENCE", K_STR},
    {"WEFT_JWKS", K_STR},
    {"P2P_NODES", K_LIST},
    {"SUBSCRIBER_THRESHOLD", K_REAL},
    {"WEFT_FALLBACK_MS", K_INT},
    {"WEFT_MAX_MESSAGE_SIZE", K_INT},
    /* read since the first round (appended: the earlier seeds keep their meaning) */
    {"WEFT_GOSSIPSUB_VERSION", K_CHOICE},
    {"WEFT_TRANSPORT", K_CHOICE},
    {"WEFT_KAD", K_CHOICE},
    {"WEFT_MAX_CLIENTS", K_INT},
    {"WEFT_CLIENT_IDLE_S", K_INT},
    {"WEFT_METRICS_MAX_SERIES", K_INT},
    {"WEFT_METRICS_SERIES_IDLE_S", K_INT},
    {"WEFT_SHARE", K_BOOL},
    {"WEFT_SHARE_GROUP", K_STR},
    {"WEFT_SHARE_KEY", K_STR},
    {"WEFT_SHARE_TTL_S", K_INT},
    {"WEFT_TLS_CA_FILE", K_STR},
    {"WEFT_JWKS_REFRESH_S", K_INT},
    {"WEFT_JWKS_MIN_INTERVAL_MS", K_INT},
};
#define NVARS (sizeof vars / sizeof *vars)
#define MAX_ENTRIES 48

static struct env {
    char *name[MAX_ENTRIES], *value[MAX_ENTRIES];
    size_t n;
} g_env;

static const char *
lookup(const char *name, void *user)
{
    struct env *e = user;
    for (size_t i = e->n; i-- > 0;)
        if (strcmp(e->name[i], name) == 0)
            return e->value[i];
    return NULL;
}

/* The value the loaders see: set and non-empty, else NULL. */
static const char *
val(const char *name)
{
    const char *v = lookup(name, &g_env);
    return v && *v ? v : NULL;
}

static int
all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* [+-]? digits [. digits] [(e|E) [+-]? digits], or with the integral or the
 * fractional digits alone: what a person writes for a threshold. */
static int
decimal(const char *s)
{
    size_t i = 0, d = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    while (isdigit((unsigned char)s[i]))
        i++, d++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, d++;
    }
    if (d == 0)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        if (!isdigit((unsigned char)s[i]))
            return 0;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    return s[i] == '\0';
}

static int
has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int
one_of(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(v, *list) == 0)
            return 1;
    return 0;
}

/* Each set variable of the loader's list took only its documented form. */
static void
check_accepted(const char *const *names)
{
    static const char *const bools[] = {"true", "1", "yes", "on", "false", "0", "no", "off", NULL};
    for (; *names; names++) {
        const char *v = val(*names);
        if (!v)
            continue;
        const struct var *var = NULL;
        for (size_t i = 0; i < NVARS; i++)
            if (strcmp(vars[i].name, *names) == 0)
                var = &vars[i];
        FZ_CHECK(var != NULL);
        FZ_CHECK(!has_control(v));
        switch (var->kind) {
        case K_PORT: {
            const char *p = v[0] == ':' ? v + 1 : v;
            FZ_CHECK(all_digits(p));
            long long x = strtoll(p, NULL, 10);
            FZ_CHECK(x >= 1 && x <= 65535);
            break;
        }
        case K_INT: FZ_CHECK(all_digits(v[0] == '-' ? v + 1 : v)); break;
        case K_REAL: {
            FZ_CHECK(decimal(v));
            double x = strtod(v, NULL);
            FZ_CHECK(isfinite(x));
            break;
        }
        case K_BOOL: FZ_CHECK(one_of(v, bools)); break;
        default: break;
        }
    }
}

static int
port_of(const char *name, int def)
{
    const char *v = val(name);
    if (!v)
        return def;
    return (int)strtoll(v[0] == ':' ? v + 1 : v, NULL, 10);
}

static long long
int_of(const char *name, long long def)
{
    const char *v = val(name);
    return v ? strtoll(v, NULL, 10) : def;
}

static const char *
str_of(const char *name, const char *def)
{
    const char *v = val(name);
    return v ? v : def;
}

/* A failure: one printable line, starting with a variable's name. */
static void
check_error(int rc, const char *err)
{
    FZ_CHECK(rc == WEFT_EINVAL);
    size_t n = strnlen(err, WEFT_ENV_ERR);
    FZ_CHECK(n > 0 && n < WEFT_ENV_ERR);
    FZ_CHECK(!has_control(err));
    int named = 0;
    for (size_t i = 0; i < NVARS && !named; i++) {
        size_t l = strlen(vars[i].name);
        named = strncmp(err, vars[i].name, l) == 0 && strchr("=: ", err[l]) != NULL;
    }
    FZ_CHECK(named);
}

static void
run_node(void)
{
    static const char *const names[] = {"NODE_MODE",
                                        "CLUSTER_ID",
                                        "LOG_LEVEL",
                                        "SIDECAR_PORT",
                                        "API_PORT",
                                        "OPTIMUM_PORT",
                                        "GOSSIPSUB_PORT",
                                        "IDENTITY_DIR",
                                        "BOOTSTRAP_PEERS",
                                        "OPTIMUM_MAX_MSG_SIZE",
                                        "GOSSIPSUB_MAX_MSG_SIZE",
                                        "OPTIMUM_MESH_TARGET",
                                        "OPTIMUM_MESH_MIN",
                                        "OPTIMUM_MESH_MAX",
                                        "OPTIMUM_SHARD_FACTOR",
                                        "OPTIMUM_SHARD_MULT",
                                        "OPTIMUM_THRESHOLD",
                                        "WEFT_LISTEN_IP",
                                        "WEFT_GEOIP_DB",
                                        "WEFT_PUBLIC_IP",
                                        "WEFT_TRACE_RPC",
                                        "WEFT_CLIENT_QUEUE_BYTES",
                                        "WEFT_GOSSIPSUB_VERSION",
                                        "WEFT_TRANSPORT",
                                        "WEFT_KAD",
                                        NULL};
    static const char *const modes[] = {"optimum", "gossipsub", NULL};
    static const char *const gs_versions[] = {"1.2", "1.1", NULL};
    static const char *const transports[] = {"auto", "uring", "io_uring", "epoll", NULL};
    static const char *const kads[] = {"server", "client", "off", NULL};
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    static node_config a, b;
    char ea[WEFT_ENV_ERR] = "", eb[WEFT_ENV_ERR] = "";
    int ra = node_config_load(&a, ea), rb = node_config_load(&b, eb);
    FZ_CHECK(ra == rb);
    if (ra < 0) {
        FZ_CHECK(strcmp(ea, eb) == 0);
        check_error(ra, ea);
        return;
    }
    FZ_CHECK(ra == 0);
    check_accepted(names);
    FZ_CHECK(a.mode == NODE_OPTIMUM || a.mode == NODE_GOSSIPSUB);
    if (val("NODE_MODE"))
        FZ_CHECK(one_of(val("NODE_MODE"), modes) &&
                 strcasecmp(val("NODE_MODE"), node_mode_name(a.mode)) == 0);
    if (val("LOG_LEVEL"))
        FZ_CHECK(one_of(val("LOG_LEVEL"), levels) &&
                 strcasecmp(val("LOG_LEVEL"), a.log_level_name) == 0);
    FZ_CHECK(a.sidecar_port == port_of("SIDECAR_PORT", 33212));
    FZ_CHECK(a.api_port == port_of("API_PORT", 9090));
    FZ_CHECK(a.optimum_port == port_of("OPTIMUM_PORT", 7070));
    /* GOSSIPSUB_PORT unset or empty with OPTIMUM_PORT set: gossipsub listens there too */
    const char *gpv = val("GOSSIPSUB_PORT"), *opv = val("OPTIMUM_PORT");
    if ((!gpv || !*gpv) && opv && *opv)
        FZ_CHECK(a.gossipsub_port == a.optimum_port);
    else
        FZ_CHECK(a.gossipsub_port == port_of("GOSSIPSUB_PORT", 6060));
    FZ_CHECK(a.optimum_max_msg == int_of("OPTIMUM_MAX_MSG_SIZE", 1048576) &&
             a.optimum_max_msg >= 1);
    FZ_CHECK(a.gossipsub_max_msg == int_of("GOSSIPSUB_MAX_MSG_SIZE", 1048576) &&
             a.gossipsub_max_msg >= 1);
    FZ_CHECK(a.mesh_target == int_of("OPTIMUM_MESH_TARGET", 6));
    /* [3]: the node's help and guides 002/003 (spec/optimum-compat.md says 4 or 3) */
    FZ_CHECK(a.mesh_min == int_of("OPTIMUM_MESH_MIN", 3));
    FZ_CHECK(a.mesh_max == int_of("OPTIMUM_MESH_MAX", 12));
    FZ_CHECK(a.mesh_min < a.mesh_target && a.mesh_target < a.mesh_max);
    FZ_CHECK(a.shard_factor == int_of("OPTIMUM_SHARD_FACTOR", 4) && a.shard_factor >= 1 &&
             a.shard_factor <= 255);
    FZ_CHECK(a.shard_mult >= 1.0 && a.shard_mult <= 64.0);
    FZ_CHECK(a.threshold > 0.0 && a.threshold <= 1.0);
    FZ_CHECK(a.client_queue == int_of("WEFT_CLIENT_QUEUE_BYTES", 256LL << 20));
    FZ_CHECK(a.cluster_id == str_of("CLUSTER_ID", a.cluster_id) && strlen(a.cluster_id) <= 128);
    FZ_CHECK(strlen(a.identity_dir) <= 1024 && strlen(a.listen_ip) <= 64);
    FZ_CHECK(a.nbootstrap <= NODE_MAX_BOOTSTRAP);
    const char *gv = val("WEFT_GOSSIPSUB_VERSION");
    FZ_CHECK(!gv || one_of(gv, gs_versions));
    FZ_CHECK(a.gossipsub_idontwant == (!gv || strcasecmp(gv, "1.2") == 0));
    const char *tr = val("WEFT_TRANSPORT");
    FZ_CHECK(!tr || (one_of(tr, transports) && strcasecmp(tr, a.transport_name) == 0));
    if (!tr)
        FZ_CHECK(strcmp(a.transport_name, "auto") == 0);
    const char *kd = val("WEFT_KAD");
    FZ_CHECK(a.kad >= 0 && a.kad <= 2);
    FZ_CHECK(strcasecmp(kd && one_of(kd, kads) ? kd : "server", kads[a.kad]) == 0);
    FZ_CHECK(!kd || one_of(kd, kads));
    if (!val("BOOTSTRAP_PEERS"))
        FZ_CHECK(a.nbootstrap == 0);
    char *json = node_config_json(&a);
    FZ_CHECK(json != NULL);
    cJSON *o = cJSON_Parse(json);
    FZ_CHECK(cJSON_IsObject(o));
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "SIDECAR_PORT");
    FZ_CHECK(cJSON_IsNumber(sp) && sp->valuedouble == a.sidecar_port);
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(o, "BOOTSTRAP_PEERS");
    FZ_CHECK(cJSON_IsArray(bs) && (size_t)cJSON_GetArraySize(bs) == a.nbootstrap);
    cJSON_Delete(o);
    free(json);
}

static void
run_proxy(void)
{
    static const char *const names[] = {"CLUSTER_ID",
                                        "PROXY_PORT",
                                        "PROXY_GRPC_PORT",
                                        "ENABLE_AUTH",
                                        "AUTH0_DOMAIN",
                                        "AUTH0_AUDIENCE",
                                        "WEFT_JWKS",
                                        "P2P_NODES",
                                        "LOG_LEVEL",
                                        "SUBSCRIBER_THRESHOLD",
                                        "WEFT_LISTEN_IP",
                                        "WEFT_FALLBACK_MS",
                                        "WEFT_MAX_MESSAGE_SIZE",
                                        "WEFT_CLIENT_QUEUE_BYTES",
                                        "WEFT_GEOIP_DB",
                                        "WEFT_PUBLIC_IP",
                                        "WEFT_MAX_CLIENTS",
                                        "WEFT_CLIENT_IDLE_S",
                                        "WEFT_METRICS_MAX_SERIES",
                                        "WEFT_METRICS_SERIES_IDLE_S",
                                        "WEFT_SHARE",
                                        "WEFT_SHARE_GROUP",
                                        "WEFT_SHARE_KEY",
                                        "WEFT_SHARE_TTL_S",
                                        "WEFT_TLS_CA_FILE",
                                        "WEFT_JWKS_REFRESH_S",
                                        "WEFT_JWKS_MIN_INTERVAL_MS",
                                        NULL};
    static px_config a, b;
    char ea[WEFT_ENV_ERR] = "", eb[WEFT_ENV_ERR] = "";
    int ra = px_config_load(&a, ea), rb = px_config_load(&b, eb);
    FZ_CHECK(ra == rb);
    if (ra < 0) {
        FZ_CHECK(strcmp(ea, eb) == 0);
        check_error(ra, ea);
        return;
    }
    FZ_CHECK(ra == 0);
    check_accepted(names);
    if (!val("PROXY_PORT") && val("GATEWAY_PORT"))
        check_accepted((const char *const[]){"GATEWAY_PORT", NULL});
    FZ_CHECK(a.cluster_id != NULL && a.cluster_id == val("CLUSTER_ID"));
    FZ_CHECK(a.http_port == port_of(val("PROXY_PORT") ? "PROXY_PORT" : "GATEWAY_PORT", 8080));
    FZ_CHECK(a.grpc_port == port_of("PROXY_GRPC_PORT", 50051));
    FZ_CHECK(a.threshold >= 0.1 && a.threshold <= 1.0);
    FZ_CHECK(a.fallback_ms == int_of("WEFT_FALLBACK_MS", 2000));
    FZ_CHECK(a.max_message == int_of("WEFT_MAX_MESSAGE_SIZE", 1048576) && a.max_message >= 1 &&
             a.max_message <= 64LL << 20);
    FZ_CHECK(a.client_queue == int_of("WEFT_CLIENT_QUEUE_BYTES", 16LL << 20));
    /* auth needs a key set: a file or URL, or the Auth0 domain's (fetched over https) */
    FZ_CHECK(!a.enable_auth || a.jwks != NULL || a.auth0_domain != NULL);
    FZ_CHECK(a.max_clients == int_of("WEFT_MAX_CLIENTS", 65536));
    FZ_CHECK(a.client_idle_ms == int_of("WEFT_CLIENT_IDLE_S", 600) * 1000);
    FZ_CHECK(a.metrics_series == int_of("WEFT_METRICS_MAX_SERIES", 500));
    FZ_CHECK(a.metrics_idle_ms == int_of("WEFT_METRICS_SERIES_IDLE_S", 900) * 1000);
    FZ_CHECK(a.share_ttl_ms == int_of("WEFT_SHARE_TTL_S", 600) * 1000);
    FZ_CHECK(a.jwks_refresh_s == int_of("WEFT_JWKS_REFRESH_S", 600));
    FZ_CHECK(a.jwks_retry_ms == int_of("WEFT_JWKS_MIN_INTERVAL_MS", 10000));
    FZ_CHECK(a.share == 0 || a.share == 1);
    /* the group names a mesh topic: 1..64 of A-Z a-z 0-9 . _ - */
    const char *g = str_of("WEFT_SHARE_GROUP", "weft");
    FZ_CHECK(strcmp(a.share_group, g) == 0 && strlen(g) >= 1 && strlen(g) <= 64);
    for (; *g; g++)
        FZ_CHECK(isalnum((unsigned char)*g) || strchr("._-", *g) != NULL);
    /* a shared secret: 16..256 bytes */
    FZ_CHECK(!a.share_key || (a.share_key == val("WEFT_SHARE_KEY") && strlen(a.share_key) >= 16 &&
                              strlen(a.share_key) <= 256));
    FZ_CHECK(a.http_port != a.grpc_port);
    /* every node a host:port with a port in range, and no more than given */
    FZ_CHECK(a.nnodes >= 1 && a.nnodes <= PX_MAX_NODES);
    for (size_t i = 0; i < a.nnodes; i++) {
        const char *colon = strrchr(a.nodes[i], ':');
        FZ_CHECK(colon != NULL && colon != a.nodes[i] && all_digits(colon + 1));
        long long port = strtoll(colon + 1, NULL, 10);
        FZ_CHECK(port >= 1 && port <= 65535);
        FZ_CHECK(strstr(a.nodes_text, a.nodes[i]) != NULL);
        FZ_CHECK(a.nodes[i][0] != ' ' && a.nodes[i][0] != '\t');
    }
}

/* The readers on their own, over every variable of the list, with bounds
 * taken from the input. */
static void
run_readers(fz_reader *bounds)
{
    static const char *const choices[] = {"alpha", "Beta", "gamma-1", NULL};
    for (size_t i = 0; i < NVARS; i++) {
        const char *name = vars[i].name, *v = val(name);
        char err[WEFT_ENV_ERR] = "";
        int rc;
        switch (fz_u8(bounds) % 6) {
        case 0: {
            int port = -7;
            rc = weft_env_port(name, 1234, &port, err);
            if (rc == 0)
                FZ_CHECK(port == port_of(name, 1234));
            else
                FZ_CHECK(port == -7);
            break;
        }
        case 1: {
            long long lo = (int8_t)fz_u8(bounds), hi = lo + fz_u16(bounds), x = -999;
            rc = weft_env_int(name, lo, lo, hi, &x, err);
            if (rc == 0) {
                FZ_CHECK(x >= lo && x <= hi);
                if (v)
                    FZ_CHECK(all_digits(v[0] == '-' ? v + 1 : v) && x == strtoll(v, NULL, 10));
            }
            break;
        }
        case 2: {
            double lo = fz_u8(bounds) / 16.0, x = -1;
            int open = fz_u8(bounds) & 1;
            rc = weft_env_real(name, lo + 1, lo, open, lo + 2, &x, err);
            if (rc == 0) {
                FZ_CHECK(open ? x > lo : x >= lo);
                FZ_CHECK(x <= lo + 2);
                if (v)
                    FZ_CHECK(decimal(v));
            }
            break;
        }
        case 3: {
            size_t max = fz_u8(bounds);
            const char *s = NULL;
            rc = weft_env_str(name, NULL, max, &s, err);
            if (rc == 0) {
                FZ_CHECK(s == v);
                if (s)
                    FZ_CHECK(strlen(s) <= max && !has_control(s));
            }
            break;
        }
        case 4: {
            int b = -1;
            rc = weft_env_bool(name, 0, &b, err);
            FZ_CHECK(rc < 0 ? b == -1 : b == 0 || b == 1);
            break;
        }
        default: {
            int c = -1;
            rc = weft_env_choice(name, "alpha", choices, &c, err);
            if (rc == 0)
                FZ_CHECK(c >= 0 && c < 3 && strcasecmp(v ? v : "alpha", choices[c]) == 0);
            else
                FZ_CHECK(c == -1);
            break;
        }
        }
        if (rc < 0) {
            FZ_CHECK(v != NULL); /* an unset variable always takes its default */
            check_error(rc, err);
            FZ_CHECK(strncmp(err, name, strlen(name)) == 0);
        } else {
            FZ_CHECK(rc == 0);
        }
    }
}

static void
env_clear(void)
{
    for (size_t i = 0; i < g_env.n; i++) {
        free(g_env.name[i]);
        free(g_env.value[i]);
    }
    g_env.n = 0;
}

/* Up to the next stop byte (or the end), as a fresh string. */
static char *
take(fz_reader *r, uint8_t stop)
{
    const uint8_t *e = memchr(r->p, stop, r->n);
    size_t n = e ? (size_t)(e - r->p) : r->n;
    char *s = malloc(n + 1);
    FZ_CHECK(s != NULL);
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n + (e != NULL);
    r->n -= n + (e != NULL);
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_reader r = {data, size};
    uint8_t mode = fz_u8(&r);
    fz_reader bounds = {NULL, 0};
    if (mode % 3 == 2) {
        size_t nb = r.n < 64 ? r.n : 64;
        bounds = (fz_reader){r.p, nb};
        r.p += nb;
        r.n -= nb;
    }
    while (r.n > 0 && g_env.n < MAX_ENTRIES) {
        uint8_t sel = fz_u8(&r);
        char *name = sel < NVARS ? strdup(vars[sel].name) : take(&r, '=');
        FZ_CHECK(name != NULL);
        g_env.name[g_env.n] = name;
        g_env.value[g_env.n] = take(&r, 0);
        g_env.n++;
    }
    weft_env_set_source(lookup, &g_env);
    switch (mode % 3) {
    case 0: run_node(); break;
    case 1: run_proxy(); break;
    default: run_readers(&bounds); break;
    }
    weft_env_set_source(NULL, NULL);
    env_clear();
    return 0;
}
