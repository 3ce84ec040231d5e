/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mesh_topo.h: `weft-bench mesh --topology FILE`, a given graph with a
 * one-way latency per edge instead of the random one, so that the simulator
 * runs the testbed's topology (testbed/testbed.sh writes the file from the
 * delay matrix of weft-netem and the connections its nodes made).
 *
 * The file is text, one item per line; '#' starts a comment:
 *   nodes N            hosts 1..N (first, once; 2..100000)
 *   edge A B MS        a connection between hosts A and B (1-based, A != B)
 *                      with MS milliseconds of one-way latency (0..100000)
 */
#ifndef WEFT_BENCH_MESH_TOPO_H
#define WEFT_BENCH_MESH_TOPO_H

#include <stddef.h>

#include "weft/ps_sim.h"

typedef struct mesh_edge {
    unsigned a, b; /* 0-based */
    double ms;
} mesh_edge;

typedef struct mesh_topo {
    unsigned nodes;
    mesh_edge *edges;
    size_t nedges;
} mesh_topo;

/* Read path into t (t->edges is malloc'd; mesh_topo_free releases it).
 * Returns 0, or -1 with err holding one line naming the file, the line
 * number, the value and what was expected. */
int mesh_topo_load(const char *path, mesh_topo *t, char *err, size_t errlen);
void mesh_topo_free(mesh_topo *t);

/* Dial every edge of t in sim, each with lp but its own latency. Returns the
 * number of edges, or < 0. */
long mesh_topo_connect(weft_ps_sim *sim, const mesh_topo *t, const weft_link_params *lp);

#endif /* WEFT_BENCH_MESH_TOPO_H */
