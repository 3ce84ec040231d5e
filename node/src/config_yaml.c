/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The role file of weft-node (config_yaml.h). libyaml loads the document
 * into its node graph; the walk below is two levels deep at most (section
 * mapping, then a scalar or a list of scalars), so aliases cannot make it
 * loop. Every value is checked here with the same range as its variable,
 * and stored as the text that variable would hold; config.c then reads it
 * through weft_env_get like any environment value.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "config.h"
#include "config_yaml.h"

#define MAX_FILE (1 << 20)
#define VALUE_MAX 640

enum kind { K_ROLE, K_PORT, K_INT, K_BOOL_MODE, K_BOOL, K_CAPS, K_NAME };

typedef struct field {
    const char *section, *key, *var;
    enum kind kind;
    long long lo, hi;
} field;

static const field fields[] = {
    {"node", "role", "WEFT_ROLE", K_ROLE, 0, 0},
    {"node", "listen_port", "OPTIMUM_PORT", K_PORT, 1, 65535},
    {"node", "capabilities", "WEFT_CAPABILITIES", K_CAPS, 0, NODE_MAX_CAPS},
    {"node", "max_connections", "WEFT_MAX_CONNECTIONS", K_INT, 1, 65536},
    {"node", "heartbeat_interval", "WEFT_HEARTBEAT_INTERVAL", K_INT, 1, 3600},
    {"network", "protocol_version", "WEFT_PROTOCOL_VERSION", K_NAME, 1, 64},
    {"network", "mesh_network", "NODE_MODE", K_BOOL_MODE, 0, 0},
    {"network", "enable_mdns", "WEFT_MDNS", K_BOOL, 0, 0},
    {"network", "enable_relay", "WEFT_RELAY", K_BOOL, 0, 0},
    {"network", "connection_timeout", "WEFT_CONNECTION_TIMEOUT", K_INT, 1, 300},
};
#define NFIELDS (sizeof fields / sizeof *fields)

const char node_yaml_keys_help[] =
    "Role file (--config FILE.yaml; a variable set in the environment wins over its key):\n"
    "  node.role                  WEFT_ROLE: bootstrap|relay|worker\n"
    "  node.listen_port           OPTIMUM_PORT (and GOSSIPSUB_PORT unless that is set)\n"
    "  node.capabilities          WEFT_CAPABILITIES: a list, e.g. [compute, storage]\n"
    "  node.max_connections       WEFT_MAX_CONNECTIONS\n"
    "  node.heartbeat_interval    WEFT_HEARTBEAT_INTERVAL (seconds)\n"
    "  network.protocol_version   WEFT_PROTOCOL_VERSION\n"
    "  network.mesh_network       NODE_MODE: true = optimum (RLNC coded mesh), false = gossipsub\n"
    "  network.enable_mdns        WEFT_MDNS\n"
    "  network.enable_relay       WEFT_RELAY\n"
    "  network.connection_timeout WEFT_CONNECTION_TIMEOUT (seconds)\n";

struct node_yaml {
    char path[128];
    int set[NFIELDS];
    size_t line[NFIELDS];
    char value[NFIELDS][VALUE_MAX];
};

static const node_yaml *g_active;

/* A value for an error line: printable ASCII, cut at 64 bytes. */
static void
quote(const char *v, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 5 < cap; i++) {
        unsigned char c = (unsigned char)v[i];
        if (i == 64) {
            memcpy(out + j, "...", 3);
            j += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[j++] = '\\';
            out[j++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            j += (size_t)snprintf(out + j, cap - j, "\\x%02x", c);
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = 0;
}

static size_t
line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

static int fail_at(const node_yaml *y, const yaml_node_t *at, char err[WEFT_ENV_ERR],
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail_at(const node_yaml *y, const yaml_node_t *at, char err[WEFT_ENV_ERR], const char *fmt, ...)
{
    int n = snprintf(err, WEFT_ENV_ERR, "%s:%zu: ", y->path, at ? line_of(at) : (size_t)1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, WEFT_ENV_ERR - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* "key.path=\"value\": expected what" for a scalar, or the node's type. */
static int
bad_value(const node_yaml *y, const yaml_node_t *v, const char *path, const char *expected,
          char err[WEFT_ENV_ERR])
{
    if (v->type == YAML_SCALAR_NODE) {
        char q[300];
        quote((const char *)v->data.scalar.value, v->data.scalar.length, q, sizeof q);
        return fail_at(y, v, err, "%s=\"%s\": expected %s", path, q, expected);
    }
    return fail_at(y, v, err, "%s is a %s: expected %s", path,
                   v->type == YAML_MAPPING_NODE ? "mapping" : "list", expected);
}

static int
is_plain(const yaml_node_t *v)
{
    return v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *
text(const yaml_node_t *v)
{
    return (const char *)v->data.scalar.value;
}

/* A scalar with an embedded NUL ("\0" in double quotes) cannot be a value. */
static int
clean(const yaml_node_t *v)
{
    return v->type == YAML_SCALAR_NODE && strlen(text(v)) == v->data.scalar.length;
}

static int
name_ok(const char *s, size_t maxlen, int upper_dot_slash)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (upper_dot_slash)
            ok = ok || (c >= 'A' && c <= 'Z') || c == '.' || c == '/';
        if (!ok)
            return 0;
    }
    return 1;
}

static int
parse_bool(const yaml_node_t *v, int *out)
{
    static const char *const t[] = {"true", "yes", "on", NULL}, *const f[] = {"false", "no", "off",
                                                                              NULL};
    if (!is_plain(v))
        return -1;
    for (int i = 0; t[i]; i++)
        if (!strcasecmp(text(v), t[i]))
            return *out = 1, 0;
    for (int i = 0; f[i]; i++)
        if (!strcasecmp(text(v), f[i]))
            return *out = 0, 0;
    return -1;
}

static int
parse_int(const yaml_node_t *v, long long lo, long long hi, long long *out)
{
    if (!is_plain(v))
        return -1;
    const char *s = text(v);
    if (!*s || strlen(s) > 12)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    long long x = strtoll(s, NULL, 10);
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int
take_caps(node_yaml *y, size_t fi, yaml_document_t *doc, yaml_node_t *v, const char *path,
          char err[WEFT_ENV_ERR])
{
    if (v->type != YAML_SEQUENCE_NODE)
        return bad_value(y, v, path, "a list of capability names, e.g. [compute, storage]", err);
    char *out = y->value[fi];
    size_t len = 0, idx = 0;
    out[0] = 0;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++, idx++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        char ep[96];
        snprintf(ep, sizeof ep, "%s[%zu]", path, idx);
        if (!e || !clean(e) || !name_ok(text(e), NODE_CAP_LEN, 0))
            return bad_value(y, e ? e : v, ep, "a name of 1..32 characters [a-z0-9_-]", err);
        if (idx == NODE_MAX_CAPS)
            return fail_at(y, e, err, "%s: %zu entries or more: expected at most %d", path, idx + 1,
                           NODE_MAX_CAPS);
        size_t n = strlen(text(e));
        /* Repeats: compare against the names taken so far. */
        for (const char *p = out; *p;) {
            const char *end = strchr(p, ',');
            size_t pn = end ? (size_t)(end - p) : strlen(p);
            if (pn == n && !memcmp(p, text(e), n))
                return bad_value(y, e, ep, "each capability once", err);
            p = end ? end + 1 : p + pn;
        }
        if (len)
            out[len++] = ',';
        memcpy(out + len, text(e), n + 1);
        len += n;
    }
    return 0;
}

/* Check one key's value and store it as its variable's text. */
static int
take(node_yaml *y, size_t fi, yaml_document_t *doc, yaml_node_t *v, char err[WEFT_ENV_ERR])
{
    const field *f = &fields[fi];
    char path[64], expected[96];
    snprintf(path, sizeof path, "%s.%s", f->section, f->key);
    long long x;
    int b;
    switch (f->kind) {
    case K_ROLE:
        if (!clean(v) ||
            (strcmp(text(v), "bootstrap") && strcmp(text(v), "relay") && strcmp(text(v), "worker")))
            return bad_value(y, v, path, "bootstrap, relay or worker", err);
        snprintf(y->value[fi], VALUE_MAX, "%s", text(v));
        return 0;
    case K_PORT:
    case K_INT:
        if (v->type == YAML_SCALAR_NODE && !is_plain(v)) {
            snprintf(expected, sizeof expected, "an integer in %lld..%lld (a number, not a string)",
                     f->lo, f->hi);
            return bad_value(y, v, path, expected, err);
        }
        if (v->type != YAML_SCALAR_NODE || parse_int(v, f->lo, f->hi, &x) < 0) {
            snprintf(expected, sizeof expected, "an integer in %lld..%lld", f->lo, f->hi);
            return bad_value(y, v, path, expected, err);
        }
        snprintf(y->value[fi], VALUE_MAX, "%lld", x);
        return 0;
    case K_BOOL:
    case K_BOOL_MODE:
        if (v->type != YAML_SCALAR_NODE || parse_bool(v, &b) < 0)
            return bad_value(y, v, path, "true or false (unquoted)", err);
        if (f->kind == K_BOOL_MODE)
            snprintf(y->value[fi], VALUE_MAX, "%s", b ? "optimum" : "gossipsub");
        else
            snprintf(y->value[fi], VALUE_MAX, "%s", b ? "true" : "false");
        return 0;
    case K_NAME:
        if (!clean(v) || !name_ok(text(v), (size_t)f->hi, 1))
            return bad_value(y, v, path, "1..64 characters of [A-Za-z0-9._/-]", err);
        snprintf(y->value[fi], VALUE_MAX, "%s", text(v));
        return 0;
    case K_CAPS: return take_caps(y, fi, doc, v, path, err);
    }
    return -1;
}

static int
walk_section(node_yaml *y, yaml_document_t *doc, const char *section, yaml_node_t *m,
             char err[WEFT_ENV_ERR])
{
    char keys[256] = "";
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(fields[i].section, section)) {
            size_t n = strlen(keys);
            snprintf(keys + n, sizeof keys - n, "%s%s", n ? ", " : "", fields[i].key);
        }
    if (m->type != YAML_MAPPING_NODE) {
        char exp[300];
        snprintf(exp, sizeof exp, "a mapping of %s", keys);
        return bad_value(y, m, section, exp, err);
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v)
            return fail_at(y, m, err, "%s: malformed mapping", section);
        if (!clean(k)) {
            char exp[300];
            snprintf(exp, sizeof exp, "a key among %s", keys);
            return bad_value(y, k, section, exp, err);
        }
        size_t fi = NFIELDS;
        for (size_t i = 0; i < NFIELDS; i++)
            if (!strcmp(fields[i].section, section) && !strcmp(fields[i].key, text(k)))
                fi = i;
        if (fi == NFIELDS) {
            char q[300];
            quote(text(k), k->data.scalar.length, q, sizeof q);
            return fail_at(y, k, err, "%s.%s: unknown key: expected one of %s", section, q, keys);
        }
        if (y->set[fi])
            return fail_at(y, k, err, "%s.%s: given twice (first on line %zu): expected it once",
                           section, fields[fi].key, y->line[fi]);
        if (take(y, fi, doc, v, err) < 0)
            return -1;
        y->set[fi] = 1;
        y->line[fi] = line_of(k);
    }
    return 0;
}

static int
walk(node_yaml *y, yaml_document_t *doc, char err[WEFT_ENV_ERR])
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return fail_at(y, root, err, "expected a mapping with the sections node and network");
    int seen[2] = {0, 0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v)
            return fail_at(y, root, err, "malformed mapping");
        int s = clean(k) ? (!strcmp(text(k), "node")      ? 0
                            : !strcmp(text(k), "network") ? 1
                                                          : -1)
                         : -1;
        if (s < 0) {
            char q[300] = "";
            if (k->type == YAML_SCALAR_NODE)
                quote(text(k), k->data.scalar.length, q, sizeof q);
            return fail_at(y, k, err, "%s: unknown key: expected node or network", q);
        }
        if (seen[s]++)
            return fail_at(y, k, err, "%s: given twice: expected it once", text(k));
        if (walk_section(y, doc, text(k), v, err) < 0)
            return -1;
    }
    return 0;
}

node_yaml *
node_yaml_load(const char *path, char err[WEFT_ENV_ERR])
{
    node_yaml *y = calloc(1, sizeof *y);
    if (!y) {
        snprintf(err, WEFT_ENV_ERR, "--config: out of memory");
        return NULL;
    }
    snprintf(y->path, sizeof y->path, "%s", path);
    struct stat st;
    FILE *fp = NULL;
    int ok = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_parser = 0;
    const char *why = NULL;
    if (stat(path, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "expected a regular file";
    else if (st.st_size > MAX_FILE)
        why = "expected at most 1 MiB";
    if (why) {
        snprintf(err, WEFT_ENV_ERR, "--config \"%.200s\": %s", path, why);
        goto out;
    }
    fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, WEFT_ENV_ERR, "--config \"%.200s\": %s", path, strerror(errno));
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, WEFT_ENV_ERR, "--config: out of memory");
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, WEFT_ENV_ERR, "%s:%zu:%zu: not YAML: %s", y->path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "parse error");
        goto out;
    }
    int rc = walk(y, &doc, err);
    yaml_document_delete(&doc);
    if (rc < 0)
        goto out;
    /* A second document would be silently ignored: refuse it. */
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, WEFT_ENV_ERR, "%s:%zu:%zu: not YAML: %s", y->path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "parse error");
        goto out;
    }
    yaml_node_t *more = yaml_document_get_root_node(&doc);
    if (more)
        fail_at(y, more, err, "a second document: expected one");
    yaml_document_delete(&doc);
    ok = !more;
out:
    if (have_parser)
        yaml_parser_delete(&parser);
    if (fp)
        fclose(fp);
    if (!ok) {
        free(y);
        return NULL;
    }
    return y;
}

/* The file's value of variable var (NULL if the file does not set it). */
static const char *
node_yaml_value(const node_yaml *y, const char *var)
{
    for (size_t i = 0; y && i < NFIELDS; i++)
        if (y->set[i] && !strcmp(fields[i].var, var))
            return y->value[i];
    return NULL;
}

static const char *
lookup(const char *name, void *user)
{
    (void)user;
    const char *v = getenv(name);
    if (v && *v)
        return v;
    const char *f = node_yaml_value(g_active, name);
    return f ? f : v;
}

/* An error about a variable whose value is the file's names the key. */
static const char *
name_of(const char *var)
{
    static char buf[192];
    const char *v = getenv(var);
    if ((v && *v) || !g_active)
        return NULL;
    for (size_t i = 0; i < NFIELDS; i++)
        if (g_active->set[i] && !strcmp(fields[i].var, var)) {
            snprintf(buf, sizeof buf, "%s.%s (%s:%zu)", fields[i].section, fields[i].key,
                     g_active->path, g_active->line[i]);
            return buf;
        }
    return NULL;
}

void
node_yaml_install(const node_yaml *y)
{
    g_active = y;
    weft_env_set_source(y ? lookup : NULL, NULL);
    node_config_set_namer(y ? name_of : NULL);
}

void
node_yaml_free(node_yaml *y)
{
    if (y && g_active == y)
        node_yaml_install(NULL);
    free(y);
}
