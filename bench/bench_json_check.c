/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_json_check.c: the ctest smoke check of weft-bench's --json output,
 * kept in C so the test needs nothing but the compiler.
 *
 *   bench_json_check [--bench codec|transport|kernel] [--want KEY=VALUE]...
 *                    [--want-backend NAME]... -- PROGRAM [ARGS...]
 *
 * runs PROGRAM, requires exit status 0 and a stdout made of at least one
 * line, every line one JSON object (full RFC 8259 syntax, checked by the
 * small recursive-descent parser below) holding the fields every result of
 * that subcommand carries (--bench, default codec), with its figure a
 * positive number (codec: "gbps"; transport: whichever of "gbps",
 * "per_sec", "bytes_per_conn" the line has, at least one); and, for each
 * --want, a line whose top-level string KEY is VALUE (--want-backend NAME
 * is --want backend=NAME). Exits 0 or 1 with the offending line on stderr.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WANT 16
#define MAX_DEPTH 32
#define MAX_FIELDS 48

static const char *const codec_required[] = {
    "bench",     "op",   "backend",  "variant",  "k",   "n",         "piece", "msg_bytes",   "gbps",
    "ns_per_op", "runs", "min_gbps", "max_gbps", "cpu", "impl_auto", "seed",  "peak_rss_kb", NULL,
};
static const char *const codec_figures[] = {"gbps", NULL};
static const char *const transport_required[] = {
    "bench", "test", "loop", "runs", "cpu", "peak_rss_kb", "version", NULL,
};
static const char *const transport_figures[] = {"gbps", "per_sec", "bytes_per_conn", NULL};
static const char *const kernel_required[] = {
    "bench",     "backend",        "level", "rows", "srcs",    "len",
    "clock_ghz", "cycles_per_32b", "runs",  "cpu",  "version", NULL,
};
static const char *const kernel_figures[] = {"work_gbps", NULL};

/* What one subcommand's lines must hold: every required field, and at
 * least one of the figures, each present one a positive number. */
typedef struct profile {
    const char *name;
    const char *const *required;
    const char *const *figures;
} profile;

static const profile profiles[] = {
    {"codec", codec_required, codec_figures},
    {"transport", transport_required, transport_figures},
    {"kernel", kernel_required, kernel_figures},
};

/* The top-level fields of one object (the first MAX_FIELDS). */
typedef struct field {
    char key[64];
    char str[64]; /* string values */
    double num;
    int is_num;
} field;

typedef struct line_info {
    field f[MAX_FIELDS];
    int nfields;
} line_info;

typedef struct parser {
    const char *p;
    const char *end;
    int depth;
} parser;

static int parse_value(parser *ps, char *str_out, size_t str_cap, double *num_out, int *is_num,
                       line_info *top);

static void
skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r' || *ps->p == '\n'))
        ps->p++;
}

/* A string literal; its bytes (escapes kept raw) go to out if not NULL. */
static int
parse_string(parser *ps, char *out, size_t cap)
{
    size_t n = 0;
    int i;

    if (ps->p >= ps->end || *ps->p != '"')
        return -1;
    ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;

        if (c < 0x20)
            return -1;
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                return -1;
            c = (unsigned char)*ps->p;
            if (c == 'u') {
                for (i = 0; i < 4; i++) {
                    ps->p++;
                    if (ps->p >= ps->end || !isxdigit((unsigned char)*ps->p))
                        return -1;
                }
            } else if (strchr("\"\\/bfnrt", c) == NULL) {
                return -1;
            }
        }
        if (out != NULL && n + 1 < cap)
            out[n++] = (char)c;
        ps->p++;
    }
    if (ps->p >= ps->end)
        return -1;
    ps->p++;
    if (out != NULL && cap > 0)
        out[n] = '\0';
    return 0;
}

static int
parse_number(parser *ps, double *out)
{
    const char *s = ps->p;
    char buf[64];
    size_t len;

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
        return -1;
    if (*ps->p == '0')
        ps->p++;
    else
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p))
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
            return -1;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
            return -1;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p))
            ps->p++;
    }
    len = (size_t)(ps->p - s);
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

static int
parse_literal(parser *ps, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
        return -1;
    ps->p += n;
    return 0;
}

/* An object; with top != NULL, its keys are recorded there. */
static int
parse_object(parser *ps, line_info *top)
{
    char key[64], sval[64];
    double num;
    int is_num;

    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (parse_string(ps, key, sizeof(key)) != 0)
            return -1;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return -1;
        ps->p++;
        skip_ws(ps);
        sval[0] = '\0';
        is_num = 0;
        if (parse_value(ps, sval, sizeof(sval), &num, &is_num, NULL) != 0)
            return -1;
        if (top != NULL && top->nfields < MAX_FIELDS) {
            field *f = &top->f[top->nfields++];

            snprintf(f->key, sizeof(f->key), "%s", key);
            snprintf(f->str, sizeof(f->str), "%s", sval);
            f->num = num;
            f->is_num = is_num;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return 0;
        }
        return -1;
    }
}

static int
parse_array(parser *ps)
{
    double num;
    int is_num;

    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (parse_value(ps, NULL, 0, &num, &is_num, NULL) != 0)
            return -1;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return 0;
        }
        return -1;
    }
}

static int
parse_value(parser *ps, char *str_out, size_t str_cap, double *num_out, int *is_num, line_info *top)
{
    int rc;

    if (ps->p >= ps->end)
        return -1;
    if (++ps->depth > MAX_DEPTH)
        return -1;
    switch (*ps->p) {
    case '{': rc = parse_object(ps, top); break;
    case '[': rc = parse_array(ps); break;
    case '"': rc = parse_string(ps, str_out, str_cap); break;
    case 't': rc = parse_literal(ps, "true"); break;
    case 'f': rc = parse_literal(ps, "false"); break;
    case 'n': rc = parse_literal(ps, "null"); break;
    default:
        rc = parse_number(ps, num_out);
        if (rc == 0)
            *is_num = 1;
        break;
    }
    ps->depth--;
    return rc;
}

static const field *
find_field(const line_info *info, const char *key)
{
    int i;

    for (i = 0; i < info->nfields; i++)
        if (strcmp(info->f[i].key, key) == 0)
            return &info->f[i];
    return NULL;
}

/* Check one line; returns 0 or prints why and returns -1. */
static int
check_line(const char *line, size_t len, size_t lineno, const profile *prof, line_info *info)
{
    parser ps = {line, line + len, 0};
    const char *const *name;
    const field *f;
    double num = 0;
    int is_num = 0, figures = 0;

    memset(info, 0, sizeof(*info));
    skip_ws(&ps);
    if (ps.p >= ps.end || *ps.p != '{') {
        fprintf(stderr, "line %zu: not a JSON object\n", lineno);
        return -1;
    }
    if (parse_value(&ps, NULL, 0, &num, &is_num, info) != 0) {
        fprintf(stderr, "line %zu: invalid JSON near offset %zu\n", lineno, (size_t)(ps.p - line));
        return -1;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fprintf(stderr, "line %zu: trailing bytes after the object\n", lineno);
        return -1;
    }
    for (name = prof->required; *name != NULL; name++) {
        if (find_field(info, *name) == NULL) {
            fprintf(stderr, "line %zu: no \"%s\" field\n", lineno, *name);
            return -1;
        }
    }
    for (name = prof->figures; *name != NULL; name++) {
        f = find_field(info, *name);
        if (f == NULL)
            continue;
        if (!f->is_num || !(f->num > 0)) {
            fprintf(stderr, "line %zu: \"%s\" is not a positive number\n", lineno, *name);
            return -1;
        }
        figures++;
    }
    if (figures == 0) {
        fprintf(stderr, "line %zu: no \"%s\" field\n", lineno, prof->figures[0]);
        return -1;
    }
    return 0;
}

/* Run argv, return its stdout (NUL-terminated) and exit status. */
static char *
run_capture(char **argv, size_t *len, int *status)
{
    int fds[2];
    pid_t pid;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ssize_t r;

    if (buf == NULL || pipe(fds) != 0) {
        perror("bench_json_check");
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        perror("bench_json_check: fork");
        exit(1);
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        perror("bench_json_check: exec");
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL) {
                perror("bench_json_check");
                exit(1);
            }
        }
        r = read(fds[0], buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fds[0]);
    buf[n] = '\0';
    if (waitpid(pid, status, 0) < 0) {
        perror("bench_json_check: waitpid");
        exit(1);
    }
    *len = n;
    return buf;
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: bench_json_check [--bench codec|transport|kernel] [--want KEY=VALUE]...\n"
            "                        [--want-backend NAME]... -- PROG [ARGS]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    char want_key[MAX_WANT][64], want_val[MAX_WANT][64];
    int found[MAX_WANT] = {0};
    size_t nwant = 0, len, lineno = 0, nlines = 0, w, i;
    int argi = 1, status, bad = 0;
    const profile *prof = &profiles[0];
    const field *f;
    char *out, *line, *nl;
    static line_info info;

    while (argi < argc && strcmp(argv[argi], "--") != 0) {
        const char *opt = argv[argi], *arg = argi + 1 < argc ? argv[argi + 1] : NULL;
        const char *eq;

        if (arg == NULL)
            return usage();
        if (strcmp(opt, "--bench") == 0) {
            for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
                if (strcmp(arg, profiles[i].name) == 0)
                    break;
            if (i == sizeof(profiles) / sizeof(profiles[0]))
                return usage();
            prof = &profiles[i];
        } else if (strcmp(opt, "--want-backend") == 0 && nwant < MAX_WANT) {
            snprintf(want_key[nwant], sizeof(want_key[nwant]), "backend");
            snprintf(want_val[nwant++], sizeof(want_val[0]), "%s", arg);
        } else if (strcmp(opt, "--want") == 0 && nwant < MAX_WANT &&
                   (eq = strchr(arg, '=')) != NULL && eq > arg &&
                   (size_t)(eq - arg) < sizeof(want_key[0])) {
            snprintf(want_key[nwant], sizeof(want_key[nwant]), "%.*s", (int)(eq - arg), arg);
            snprintf(want_val[nwant++], sizeof(want_val[0]), "%s", eq + 1);
        } else {
            return usage();
        }
        argi += 2;
    }
    if (argi + 1 >= argc)
        return usage();
    out = run_capture(argv + argi + 1, &len, &status);
    fputs(out, stdout);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_json_check: %s exited abnormally (status 0x%x)\n", argv[argi + 1],
                status);
        return 1;
    }
    for (line = out; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            fprintf(stderr, "bench_json_check: output does not end with a newline\n");
            return 1;
        }
        lineno++;
        if (check_line(line, (size_t)(nl - line), lineno, prof, &info) != 0) {
            bad = 1;
            continue;
        }
        nlines++;
        for (w = 0; w < nwant; w++) {
            f = find_field(&info, want_key[w]);
            if (f != NULL && !f->is_num && strcmp(f->str, want_val[w]) == 0)
                found[w] = 1;
        }
    }
    if (nlines == 0) {
        fprintf(stderr, "bench_json_check: no result lines\n");
        bad = 1;
    }
    for (w = 0; w < nwant; w++) {
        if (!found[w]) {
            fprintf(stderr, "bench_json_check: no line with \"%s\":\"%s\"\n", want_key[w],
                    want_val[w]);
            bad = 1;
        }
    }
    free(out);
    if (!bad)
        fprintf(stderr, "bench_json_check: %zu valid JSON lines\n", nlines);
    return bad;
}
