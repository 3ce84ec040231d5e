/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mesh_topo.c: the --topology file of `weft-bench mesh` (format in
 * bench_mesh_topo.h). Every field is checked before use; an edge named
 * twice is kept once, so the file may list both directions.
 */
#include "bench_mesh_topo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 100000u
#define MAX_MS 100000.0

/* The error names the file, the line, what it held and what was expected. */
static int
bad(char *err, size_t errlen, const char *path, unsigned line, const char *text, const char *what)
{
    size_t n = strcspn(text, "\r\n");
    snprintf(err, errlen, "--topology %s, line %u: \"%.*s\": %s", path, line,
             (int)(n > 80 ? 80 : n), text, what);
    return -1;
}

static int
seen(const mesh_topo *t, unsigned a, unsigned b)
{
    for (size_t i = 0; i < t->nedges; i++)
        if ((t->edges[i].a == a && t->edges[i].b == b) ||
            (t->edges[i].a == b && t->edges[i].b == a))
            return 1;
    return 0;
}

int
mesh_topo_load(const char *path, mesh_topo *t, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[256], what[200];
    unsigned no = 0;
    size_t cap = 0;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    if (f == NULL) {
        snprintf(err, errlen, "--topology %s: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char *hash = strchr(line, '#'), word[16];
        unsigned long a, b;
        double ms;
        int n, used = 0;

        no++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = bad(err, errlen, path, no, line, "longer than 255 bytes");
            break;
        }
        if (hash != NULL)
            *hash = '\0';
        n = sscanf(line, "%15s", word);
        if (n != 1)
            continue; /* blank */
        if (strcmp(word, "nodes") == 0) {
            if (t->nodes != 0 || sscanf(line, " nodes %lu %n", &a, &used) != 1 ||
                line[used] != '\0' || a < 2 || a > MAX_NODES) {
                snprintf(what, sizeof what,
                         "'nodes' wants one count in [2, %u], given once, before the edges",
                         MAX_NODES);
                rc = bad(err, errlen, path, no, line, what);
            } else {
                t->nodes = (unsigned)a;
            }
        } else if (strcmp(word, "edge") == 0) {
            if (t->nodes == 0) {
                rc = bad(err, errlen, path, no, line, "an edge before the 'nodes' line");
            } else if (sscanf(line, " edge %lu %lu %lf %n", &a, &b, &ms, &used) != 3 ||
                       line[used] != '\0' || a < 1 || b < 1 || a > t->nodes || b > t->nodes ||
                       a == b || !isfinite(ms) || ms < 0 || ms > MAX_MS) {
                snprintf(what, sizeof what,
                         "'edge A B MS' wants two different hosts in [1, %u] and a latency in "
                         "[0, %g] ms",
                         t->nodes, MAX_MS);
                rc = bad(err, errlen, path, no, line, what);
            } else if (!seen(t, (unsigned)a - 1, (unsigned)b - 1)) {
                if (t->nedges == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    mesh_edge *e = realloc(t->edges, ncap * sizeof(*e));
                    if (e == NULL) {
                        rc = bad(err, errlen, path, no, line, "out of memory");
                        break;
                    }
                    t->edges = e;
                    cap = ncap;
                }
                t->edges[t->nedges].a = (unsigned)a - 1;
                t->edges[t->nedges].b = (unsigned)b - 1;
                t->edges[t->nedges].ms = ms;
                t->nedges++;
            }
        } else {
            snprintf(what, sizeof what, "'%s' is not 'nodes' or 'edge'", word);
            rc = bad(err, errlen, path, no, line, what);
        }
    }
    fclose(f);
    if (rc == 0 && t->nodes == 0)
        rc = bad(err, errlen, path, no, "", "no 'nodes' line");
    if (rc == 0 && t->nedges == 0)
        rc = bad(err, errlen, path, no, "", "no edges");
    if (rc != 0)
        mesh_topo_free(t);
    return rc;
}

void
mesh_topo_free(mesh_topo *t)
{
    free(t->edges);
    t->edges = NULL;
    t->nedges = 0;
}

long
mesh_topo_connect(weft_ps_sim *sim, const mesh_topo *t, const weft_link_params *lp)
{
    for (size_t i = 0; i < t->nedges; i++) {
        weft_link_params p = *lp;
        int rc;

        p.latency_ns = (int64_t)(t->edges[i].ms * 1e6);
        rc = weft_ps_sim_connect(sim, t->edges[i].a, t->edges[i].b, &p);
        if (rc < 0)
            return rc;
    }
    return (long)t->nedges;
}
