/* SPDX-License-Identifier: Apache-2.0 */
/*
 * weft-codec: encode a file into coded shard files, recode shard files,
 * decode a directory of shard files back into the file, inspect a shard.
 *
 * Exit status: 0 success; 1 decode had too few independent shards; 2 bad
 * usage, bad input or an I/O error. Every error is one line on stderr that
 * names the file or option, the value and what was expected.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/codec.h"
#include "weft/commit.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.0.0"
#endif

#define EXIT_SHORT 1
#define EXIT_BAD 2
#define MAX_SHARDS 100000
#define BATCH_BYTES ((size_t)64 << 20)

static const char *prog = "weft-codec";

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_BAD);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (wanted %zu bytes)", n);
    return p;
}

/* Parse an unsigned integer option in [lo, hi]. */
static uint64_t
parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        die("%s: '%s' is not a number (expected %" PRIu64 "..%" PRIu64 ")", opt, s ? s : "", lo,
            hi);
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        die("%s: '%s' is not a number (expected %" PRIu64 "..%" PRIu64 ")", opt, s, lo, hi);
    if (v < lo || v > hi)
        die("%s: %llu is out of range (expected %" PRIu64 "..%" PRIu64 ")", opt, v, lo, hi);
    return v;
}

/* Read a whole file of at most max bytes. */
static uint8_t *
read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        die("%s: not a regular file", path);
    if ((uint64_t)st.st_size > max)
        die("%s: %lld bytes is too large (at most %zu)", path, (long long)st.st_size, max);
    size_t n = (size_t)st.st_size;
    uint8_t *buf = xmalloc(n);
    if (n && fread(buf, 1, n, f) != n)
        die("%s: read failed: %s", path, ferror(f) ? strerror(errno) : "file shrank");
    fclose(f);
    *len = n;
    return buf;
}

static void
write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("%s: cannot create: %s", path, strerror(errno));
    if ((len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0)
        die("%s: write failed: %s", path, strerror(errno));
}

static void
make_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        die("%s: cannot create directory: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        die("%s: exists and is not a directory", dir);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular, non-hidden files of dir, sorted, as "dir/name" strings. */
static char **
list_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        die("%s: cannot open directory: %s", dir, strerror(errno));
    size_t n = 0, cap = 64;
    char **names = xmalloc(cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        char *p = xmalloc(need);
        snprintf(p, need, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (n == MAX_SHARDS)
            die("%s: more than %d files", dir, MAX_SHARDS);
        if (n == cap) {
            cap *= 2;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                die("out of memory");
            names = grown;
        }
        names[n++] = p;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    *count = n;
    return names;
}

static void
free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Largest shard file we accept: the format's own bound. */
#define MAX_SHARD_FILE ((size_t)WEFT_SHARD_HDR + WEFT_MAX_K + (size_t)INT32_MAX)

/* Read every shard in dir into one decoder. Any invalid shard or a shard of
 * another generation is fatal. Returns the decoder; counts go to *files,
 * *innov. */
static weft_decoder *
absorb_dir(const char *dir, size_t *files, size_t *innov)
{
    size_t n;
    char **names = list_dir(dir, &n);
    if (n == 0)
        die("%s: no shard files", dir);
    weft_decoder *dec = NULL;
    size_t first = 0;
    char err[512] = "";
    *innov = 0;
    for (size_t i = 0; i < n && !err[0]; i++) {
        size_t len;
        uint8_t *buf = read_file(names[i], MAX_SHARD_FILE, &len);
        weft_shard_view v;
        int rc = weft_shard_parse(buf, len, &v);
        if (rc < 0) {
            snprintf(err, sizeof err, "%s: invalid shard: %s", names[i], weft_strerror(rc));
        } else if (!dec) {
            int e;
            dec = weft_dec_new(&v.gen, &e);
            if (!dec)
                snprintf(err, sizeof err, "%s: cannot decode generation k=%u piece=%u len=%u: %s",
                         names[i], v.gen.k, v.gen.piece_size, v.gen.message_len, weft_strerror(e));
            first = i;
        }
        const weft_gen *g = dec ? weft_dec_gen(dec) : NULL;
        if (!err[0] && (v.gen.k != g->k || v.gen.piece_size != g->piece_size ||
                        v.gen.message_len != g->message_len)) {
            snprintf(err, sizeof err,
                     "%s: shards of different generations mixed: k=%u piece=%u len=%u here, "
                     "k=%u piece=%u len=%u in %s",
                     names[i], v.gen.k, v.gen.piece_size, v.gen.message_len, g->k, g->piece_size,
                     g->message_len, names[first]);
        }
        if (!err[0]) {
            rc = weft_dec_push_parts(dec, v.coefs, v.payload);
            if (rc < 0)
                snprintf(err, sizeof err, "%s: invalid shard: %s", names[i], weft_strerror(rc));
            else if (rc == WEFT_DEC_INNOVATIVE)
                (*innov)++;
        }
        free(buf);
    }
    free_list(names, n);
    if (err[0]) {
        weft_dec_free(dec);
        die("%s", err);
    }
    *files = n;
    return dec;
}

static uint8_t **
alloc_batch(size_t rows, size_t shard)
{
    uint8_t **out = xmalloc(rows * sizeof *out);
    for (size_t i = 0; i < rows; i++)
        out[i] = xmalloc(shard);
    return out;
}

static void
free_batch(uint8_t **out, size_t rows)
{
    for (size_t i = 0; i < rows; i++)
        free(out[i]);
    free(out);
}

static size_t
batch_rows(size_t shard, size_t n)
{
    size_t rows = BATCH_BYTES / shard;
    if (rows < 1)
        rows = 1;
    if (rows > 64)
        rows = 64;
    return rows < n ? rows : n;
}

static void
shard_path(char *buf, size_t cap, const char *dir, size_t i)
{
    snprintf(buf, cap, "%s/shard-%04zu.bin", dir, i);
}

/* ---- encode ------------------------------------------------------------ */

static const char encode_help[] =
    "usage: weft-codec encode -k K [-n N] [--systematic] [--piece BYTES] [--seed S]\n"
    "                         -i FILE -o DIR\n"
    "Cut FILE into K pieces and write N coded shards DIR/shard-0000.bin, ...\n"
    "  -k, --k K          source pieces, 1..1024\n"
    "  -n, --n N          shards to write (default ceil(1.5 K)), 1..100000\n"
    "  -s, --systematic   the first K shards are the pieces themselves\n"
    "  -p, --piece BYTES  piece size (default ceil(size / K), rounded to 64 when cheap)\n"
    "  -S, --seed S       coefficient seed (default: random, printed)\n"
    "  -i, --input FILE   the message (at most 4 GiB - 1)\n"
    "  -o, --output DIR   created if missing\n";

static int
cmd_encode(int argc, char **argv)
{
    static const struct option opts[] = {{"k", required_argument, 0, 'k'},
                                         {"n", required_argument, 0, 'n'},
                                         {"systematic", no_argument, 0, 's'},
                                         {"piece", required_argument, 0, 'p'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    uint32_t k = 0, piece = 0;
    size_t n = 0;
    unsigned flags = WEFT_ENC_BORROW;
    uint64_t seed = weft_seed_from_os();
    const char *in = NULL, *outdir = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "k:n:sp:S:i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k': k = (uint32_t)parse_u64("-k", optarg, 1, WEFT_MAX_K); break;
        case 'n': n = (size_t)parse_u64("-n", optarg, 1, MAX_SHARDS); break;
        case 's': flags |= WEFT_ENC_SYSTEMATIC; break;
        case 'p': piece = (uint32_t)parse_u64("--piece", optarg, 1, INT32_MAX); break;
        case 'S': seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case 'i': in = optarg; break;
        case 'o': outdir = optarg; break;
        case 'h': fputs(encode_help, stdout); return 0;
        default: fputs(encode_help, stderr); return EXIT_BAD;
        }
    }
    if (!k || !in || !outdir) {
        fprintf(stderr, "%s encode: -k, -i and -o are required\n%s", prog, encode_help);
        return EXIT_BAD;
    }
    if (optind < argc)
        die("encode: unexpected argument '%s'", argv[optind]);
    if (!n)
        n = ((size_t)k * 3 + 1) / 2;

    size_t len;
    uint8_t *msg = read_file(in, UINT32_MAX, &len);
    if (piece && (uint64_t)piece * k < len)
        die("--piece %u: too small for %zu bytes in %u pieces (need at least %zu)", piece, len, k,
            (len + k - 1) / k);
    int err;
    weft_encoder *enc = weft_enc_new(msg, len, k, piece, flags, seed, &err);
    if (!enc)
        die("encode: %s", weft_strerror(err));
    make_dir(outdir);
    const weft_gen *g = weft_enc_gen(enc);
    size_t shard = weft_shard_size(g);
    size_t rows = batch_rows(shard, n);
    uint8_t **batch = alloc_batch(rows, shard);
    size_t pathcap = strlen(outdir) + 32;
    char *path = xmalloc(pathcap);
    for (size_t done = 0; done < n;) {
        size_t m = n - done < rows ? n - done : rows;
        if (weft_enc_batch(enc, batch, m, shard) < 0)
            die("encode: internal error");
        for (size_t j = 0; j < m; j++) {
            shard_path(path, pathcap, outdir, done + j);
            write_file(path, batch[j], shard);
        }
        done += m;
    }
    printf("encoded %s (%zu bytes) into %zu %s shards of %zu bytes: k=%u piece=%u seed=%" PRIu64
           " kernels=%s -> %s\n",
           in, len, n, (flags & WEFT_ENC_SYSTEMATIC) ? "systematic" : "random", shard, g->k,
           g->piece_size, seed, weft_gf_impl_name(), outdir);
    free(path);
    free_batch(batch, rows);
    weft_enc_free(enc);
    free(msg);
    return 0;
}

/* ---- recode ------------------------------------------------------------ */

static const char recode_help[] =
    "usage: weft-codec recode -i DIR [-n N] [--seed S] -o DIR2\n"
    "Read every shard in DIR (one generation) and write N fresh random combinations\n"
    "DIR2/shard-0000.bin, ... without decoding.\n"
    "  -i, --input DIR    shards to recode from\n"
    "  -n, --n N          shards to write (default: as many as were read), 1..100000\n"
    "  -S, --seed S       coefficient seed (default: random, printed)\n"
    "  -o, --output DIR2  created if missing\n";

static int
cmd_recode(int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'}, {"n", required_argument, 0, 'n'},
        {"seed", required_argument, 0, 'S'},  {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *in = NULL, *outdir = NULL;
    size_t n = 0;
    uint64_t seed = weft_seed_from_os();
    int c;
    while ((c = getopt_long(argc, argv, "i:n:S:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'n': n = (size_t)parse_u64("-n", optarg, 1, MAX_SHARDS); break;
        case 'S': seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case 'o': outdir = optarg; break;
        case 'h': fputs(recode_help, stdout); return 0;
        default: fputs(recode_help, stderr); return EXIT_BAD;
        }
    }
    if (!in || !outdir) {
        fprintf(stderr, "%s recode: -i and -o are required\n%s", prog, recode_help);
        return EXIT_BAD;
    }
    if (optind < argc)
        die("recode: unexpected argument '%s'", argv[optind]);
    size_t files, innov;
    weft_decoder *dec = absorb_dir(in, &files, &innov);
    if (!n)
        n = files;
    make_dir(outdir);
    const weft_gen *g = weft_dec_gen(dec);
    size_t shard = weft_shard_size(g);
    uint8_t *buf = xmalloc(shard);
    size_t pathcap = strlen(outdir) + 32;
    char *path = xmalloc(pathcap);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    for (size_t j = 0; j < n; j++) {
        int rc = weft_dec_recode(dec, &rng, buf, shard);
        if (rc < 0)
            die("recode: %s", weft_strerror(rc));
        shard_path(path, pathcap, outdir, j);
        write_file(path, buf, shard);
    }
    printf("recoded %zu shards from %s (rank %u of k=%u%s) into %zu shards, seed=%" PRIu64
           " -> %s\n",
           files, in, weft_dec_rank(dec), g->k,
           weft_dec_rank(dec) < g->k ? "; the output alone cannot decode" : "", n, seed, outdir);
    free(path);
    free(buf);
    weft_dec_free(dec);
    return 0;
}

/* ---- decode ------------------------------------------------------------ */

static const char decode_help[] =
    "usage: weft-codec decode -i DIR -o FILE\n"
    "Read every shard in DIR, in any order, and write the decoded message to FILE.\n"
    "Exits 1 if the shards hold fewer than k independent combinations.\n";

static int
cmd_decode(int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'h': fputs(decode_help, stdout); return 0;
        default: fputs(decode_help, stderr); return EXIT_BAD;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "%s decode: -i and -o are required\n%s", prog, decode_help);
        return EXIT_BAD;
    }
    if (optind < argc)
        die("decode: unexpected argument '%s'", argv[optind]);
    size_t files, innov;
    weft_decoder *dec = absorb_dir(in, &files, &innov);
    const weft_gen *g = weft_dec_gen(dec);
    if (!weft_dec_complete(dec)) {
        fprintf(stderr,
                "%s: %s: not enough independent shards: need %u, have %u (from %zu files)\n", prog,
                in, g->k, weft_dec_rank(dec), files);
        weft_dec_free(dec);
        return EXIT_SHORT;
    }
    size_t len;
    const uint8_t *msg = weft_dec_message(dec, &len);
    write_file(out, msg, len);
    printf("decoded %zu bytes from %zu shards in %s (%zu innovative, %zu redundant; k=%u) -> %s\n",
           len, files, in, innov, files - innov, g->k, out);
    weft_dec_free(dec);
    return 0;
}

/* ---- inspect ----------------------------------------------------------- */

static int
cmd_inspect(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        FILE *o = argc == 2 ? stdout : stderr;
        fputs("usage: weft-codec inspect FILE\nPrint a shard's header and coefficients.\n", o);
        return argc == 2 ? 0 : EXIT_BAD;
    }
    size_t len;
    uint8_t *buf = read_file(argv[1], MAX_SHARD_FILE, &len);
    weft_shard_view v;
    int rc = weft_shard_parse(buf, len, &v);
    if (rc < 0)
        die("%s: invalid shard: %s", argv[1], weft_strerror(rc));
    uint32_t nz = 0, unit = UINT32_MAX;
    for (uint32_t i = 0; i < v.gen.k; i++)
        if (v.coefs[i]) {
            nz++;
            unit = v.coefs[i] == 1 ? i : UINT32_MAX;
        }
    printf("file:         %s (%zu bytes)\n", argv[1], len);
    printf("version:      %u\nfield:        %u (GF(2^8), 0x11D)\n", buf[0], buf[1]);
    printf("k:            %u\npiece_size:   %u\nmessage_len:  %u\n", v.gen.k, v.gen.piece_size,
           v.gen.message_len);
    if (nz == 1 && unit != UINT32_MAX)
        printf("kind:         systematic (piece %u)\n", unit);
    else
        printf("kind:         coded (%u of %u coefficients nonzero)\n", nz, v.gen.k);
    printf("coefficients:");
    for (uint32_t i = 0; i < v.gen.k; i++)
        printf("%s%02x", (i % 32 == 0) ? "\n  " : " ", v.coefs[i]);
    printf("\n");
    free(buf);
    return 0;
}

static const char main_help[] =
    "usage: weft-codec COMMAND [OPTIONS]\n"
    "Random linear network coding over GF(2^8) on files.\n\n"
    "commands:\n"
    "  encode   cut a file into k pieces and write coded shard files\n"
    "  recode   write fresh combinations of shard files without decoding\n"
    "  decode   rebuild the file from any k independent shard files\n"
    "  inspect  print a shard's header and coefficients\n\n"
    "options: --help, --version. 'weft-codec COMMAND --help' for a command's options.\n"
    "environment: WEFT_GF_IMPL=ref|ssse3|avx2|avx512|gfni|gfni256|neon forces a kernel set.\n";

int
main(int argc, char **argv)
{
    if (weft_init() < 0)
        fprintf(stderr, "%s: continuing with kernels %s\n", prog, weft_gf_impl_name());
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_BAD;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("weft-codec %s (commit %s, %s)\nkernels: %s\ncpu features: %s\navailable:",
               WEFT_VERSION, WEFT_COMMIT, WEFT_DESCRIBE, weft_gf_impl_name(), weft_cpu_features());
        for (const char *const *l = weft_gf_impl_list(); *l; l++)
            if (weft_gf_impl_available(*l))
                printf(" %s", *l);
        printf("\n");
        return 0;
    }
    argv++;
    argc--;
    if (!strcmp(cmd, "encode"))
        return cmd_encode(argc, argv);
    if (!strcmp(cmd, "recode"))
        return cmd_recode(argc, argv);
    if (!strcmp(cmd, "decode"))
        return cmd_decode(argc, argv);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc, argv);
    fprintf(stderr, "%s: unknown command '%s'\n%s", prog, cmd, main_help);
    return EXIT_BAD;
}
