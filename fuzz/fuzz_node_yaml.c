/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_node_yaml: weft-node's role file (--config FILE.yaml,
 * node/src/config_yaml.c), fed the input as the file (a memfd opened
 * through /proc/self/fd, so no file is written), then installed beneath
 * an empty environment and read by node_config_load.
 *
 * Oracles, from the file's documented shape (config_yaml.h, issue 18)
 * rather than from the loader's code; the document is walked again here
 * with libyaml's own loader:
 * - a refusal is one printable line naming the file ("PATH:LINE: ..." or
 *   "--config ...") and the same on a second load;
 * - an accepted file is one document whose root maps only the sections
 *   node and network, each at most once, to mappings of their known keys,
 *   each at most once; and every key's value reads back through
 *   weft_env_get as the text of its variable: the role as written,
 *   integers as plain decimal digits within the key's range, booleans from
 *   true/yes/on/false/no/off unquoted (mesh_network as optimum/gossipsub),
 *   capabilities as the list's distinct names joined by commas, the
 *   protocol name as written;
 * - node_config_load then either accepts, with the role, connection
 *   limit, heartbeat, timeout and capabilities the file gave, or refuses
 *   with one printable line.
 */
#include "fuzz_util.h"

#include <ctype.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "config_yaml.h"
#include "weft/common.h"
#include "weft/svc_env.h"

enum { ROLE, INT, BOOL, MODE, CAPS, NAME };

static const struct key {
    const char *section, *key, *var;
    int kind;
    long long lo, hi;
} keys[] = {
    {"node", "role", "WEFT_ROLE", ROLE, 0, 0},
    {"node", "listen_port", "OPTIMUM_PORT", INT, 1, 65535},
    {"node", "capabilities", "WEFT_CAPABILITIES", CAPS, 0, NODE_MAX_CAPS},
    {"node", "max_connections", "WEFT_MAX_CONNECTIONS", INT, 1, 65536},
    {"node", "heartbeat_interval", "WEFT_HEARTBEAT_INTERVAL", INT, 1, 3600},
    {"network", "protocol_version", "WEFT_PROTOCOL_VERSION", NAME, 1, 64},
    {"network", "mesh_network", "NODE_MODE", MODE, 0, 0},
    {"network", "enable_mdns", "WEFT_MDNS", BOOL, 0, 0},
    {"network", "enable_relay", "WEFT_RELAY", BOOL, 0, 0},
    {"network", "connection_timeout", "WEFT_CONNECTION_TIMEOUT", INT, 1, 300},
};
#define NKEYS (sizeof keys / sizeof *keys)

/* The empty environment beneath the file: nothing but what it installs. */
static const char *
no_env(const char *name, void *user)
{
    (void)name;
    (void)user;
    return NULL;
}

static int
printable_line(const char *s)
{
    size_t n = strnlen(s, WEFT_ENV_ERR);
    if (n == 0 || n >= WEFT_ENV_ERR)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static const char *
scalar(const yaml_node_t *v)
{
    return (const char *)v->data.scalar.value;
}

static int
plain(const yaml_node_t *v)
{
    return v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strlen(scalar(v)) == v->data.scalar.length;
}

/* What an accepted value must read back as, by the documented grammar. */
static void
check_value(const struct key *k, yaml_document_t *doc, yaml_node_t *v, const char *got)
{
    FZ_CHECK(got != NULL);
    switch (k->kind) {
    case ROLE:
        FZ_CHECK(v->type == YAML_SCALAR_NODE && strcmp(scalar(v), got) == 0);
        FZ_CHECK(!strcmp(got, "bootstrap") || !strcmp(got, "relay") || !strcmp(got, "worker"));
        break;
    case INT: {
        FZ_CHECK(plain(v));
        const char *s = scalar(v);
        FZ_CHECK(*s != 0 && strlen(s) <= 12);
        for (const char *p = s; *p; p++)
            FZ_CHECK(isdigit((unsigned char)*p));
        long long x = strtoll(s, NULL, 10);
        FZ_CHECK(x >= k->lo && x <= k->hi);
        char want[24];
        snprintf(want, sizeof want, "%lld", x);
        FZ_CHECK(strcmp(got, want) == 0);
        break;
    }
    case BOOL:
    case MODE: {
        FZ_CHECK(plain(v));
        const char *s = scalar(v);
        int t = !strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on");
        int f = !strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off");
        FZ_CHECK(t || f);
        const char *want = k->kind == MODE ? (t ? "optimum" : "gossipsub") : (t ? "true" : "false");
        FZ_CHECK(strcmp(got, want) == 0);
        break;
    }
    case CAPS: {
        FZ_CHECK(v->type == YAML_SEQUENCE_NODE);
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        FZ_CHECK(n <= NODE_MAX_CAPS);
        char want[NODE_MAX_CAPS * (NODE_CAP_LEN + 1) + 1] = "";
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *e = yaml_document_get_node(doc, v->data.sequence.items.start[i]);
            FZ_CHECK(e && e->type == YAML_SCALAR_NODE);
            const char *s = scalar(e);
            size_t sl = strlen(s);
            FZ_CHECK(sl == e->data.scalar.length && sl >= 1 && sl <= NODE_CAP_LEN);
            for (size_t j = 0; j < sl; j++)
                FZ_CHECK(islower((unsigned char)s[j]) || isdigit((unsigned char)s[j]) ||
                         s[j] == '_' || s[j] == '-');
            for (size_t j = 0; j < i; j++) {
                yaml_node_t *o = yaml_document_get_node(doc, v->data.sequence.items.start[j]);
                FZ_CHECK(strcmp(scalar(o), s) != 0);
            }
            size_t wl = strlen(want);
            snprintf(want + wl, sizeof want - wl, "%s%s", i ? "," : "", s);
        }
        FZ_CHECK(strcmp(got, want) == 0);
        break;
    }
    case NAME: {
        FZ_CHECK(v->type == YAML_SCALAR_NODE && strcmp(scalar(v), got) == 0);
        size_t sl = strlen(got);
        FZ_CHECK(sl == v->data.scalar.length && sl >= 1 && sl <= 64);
        for (size_t j = 0; j < sl; j++)
            FZ_CHECK(isalnum((unsigned char)got[j]) || strchr("._/-", got[j]));
        break;
    }
    }
}

/* The accepted document again, through libyaml's loader: its shape, and
 * every key's value as the loader installed it. Returns which keys were
 * given (a bit per entry of keys). */
static unsigned
check_accepted(const uint8_t *data, size_t size)
{
    yaml_parser_t p;
    yaml_document_t doc;
    FZ_CHECK(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, data, size);
    FZ_CHECK(yaml_parser_load(&p, &doc)); /* the loader accepted it */
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    FZ_CHECK(root && root->type == YAML_MAPPING_NODE);
    unsigned given = 0;
    int sections = 0;
    for (yaml_node_pair_t *s = root->data.mapping.pairs.start; s < root->data.mapping.pairs.top;
         s++) {
        yaml_node_t *sk = yaml_document_get_node(&doc, s->key);
        yaml_node_t *sv = yaml_document_get_node(&doc, s->value);
        FZ_CHECK(sk && sv && sk->type == YAML_SCALAR_NODE);
        int which = !strcmp(scalar(sk), "node") ? 1 : !strcmp(scalar(sk), "network") ? 2 : 0;
        FZ_CHECK(which != 0 && !(sections & which));
        sections |= which;
        FZ_CHECK(sv->type == YAML_MAPPING_NODE);
        for (yaml_node_pair_t *e = sv->data.mapping.pairs.start; e < sv->data.mapping.pairs.top;
             e++) {
            yaml_node_t *k = yaml_document_get_node(&doc, e->key);
            yaml_node_t *v = yaml_document_get_node(&doc, e->value);
            FZ_CHECK(k && v && k->type == YAML_SCALAR_NODE);
            size_t ki = NKEYS;
            for (size_t i = 0; i < NKEYS; i++)
                if (!strcmp(keys[i].section, scalar(sk)) && !strcmp(keys[i].key, scalar(k)))
                    ki = i;
            FZ_CHECK(ki < NKEYS && !(given & (1u << ki)));
            given |= 1u << ki;
            check_value(&keys[ki], &doc, v, weft_env_get(keys[ki].var));
        }
    }
    yaml_document_delete(&doc);
    /* one document only */
    FZ_CHECK(yaml_parser_load(&p, &doc));
    FZ_CHECK(yaml_document_get_root_node(&doc) == NULL);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    /* a key not given reads as unset */
    for (size_t i = 0; i < NKEYS; i++)
        if (!(given & (1u << i)))
            FZ_CHECK(weft_env_get(keys[i].var) == NULL);
    return given;
}

static long long
given_int(size_t ki)
{
    return strtoll(weft_env_get(keys[ki].var), NULL, 10);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int env_cleared;
    if (!env_cleared++)
        clearenv(); /* the loader's lookup reads getenv first: keep it empty */
    if (size > (1u << 16))
        return 0;
    int fd = memfd_create("fuzz-yaml", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0);
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        FZ_CHECK(w > 0);
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    weft_env_set_source(no_env, NULL);
    char err[WEFT_ENV_ERR] = "", err2[WEFT_ENV_ERR] = "";
    node_yaml *y = node_yaml_load(path, err);
    node_yaml *y2 = node_yaml_load(path, err2);
    FZ_CHECK((y == NULL) == (y2 == NULL));
    node_yaml_free(y2);
    if (!y) {
        FZ_CHECK(printable_line(err) && strcmp(err, err2) == 0);
        FZ_CHECK(strncmp(err, path, strlen(path)) == 0 || strncmp(err, "--config", 8) == 0);
        weft_env_set_source(NULL, NULL);
        close(fd);
        return 0;
    }
    node_yaml_install(y);
    unsigned given = check_accepted(data, size);
    node_config cfg;
    char cerr[WEFT_ENV_ERR] = "";
    int rc = node_config_load(&cfg, cerr);
    if (rc == 0) {
        if (given & (1u << 0))
            FZ_CHECK(strcmp(node_role_name(cfg.role), weft_env_get("WEFT_ROLE")) == 0);
        if (given & (1u << 1))
            FZ_CHECK(cfg.optimum_port == given_int(1));
        if (given & (1u << 3))
            FZ_CHECK(cfg.max_connections == given_int(3));
        if (given & (1u << 4))
            FZ_CHECK(cfg.heartbeat_interval == given_int(4));
        if (given & (1u << 9))
            FZ_CHECK(cfg.connection_timeout == given_int(9));
        if (given & (1u << 2)) {
            char joined[NODE_MAX_CAPS * (NODE_CAP_LEN + 1) + 1] = "";
            for (size_t i = 0; i < cfg.ncaps; i++) {
                size_t jl = strlen(joined);
                snprintf(joined + jl, sizeof joined - jl, "%s%s", i ? "," : "", cfg.caps[i]);
            }
            FZ_CHECK(strcmp(joined, weft_env_get("WEFT_CAPABILITIES")) == 0);
        }
        if (given & (1u << 6))
            FZ_CHECK(cfg.mode == (strcmp(weft_env_get("NODE_MODE"), "optimum") == 0
                                      ? NODE_OPTIMUM
                                      : NODE_GOSSIPSUB));
    } else {
        FZ_CHECK(rc == WEFT_EINVAL && printable_line(cerr));
    }
    node_yaml_free(y); /* uninstalls */
    weft_env_set_source(NULL, NULL);
    close(fd);
    return 0;
}
