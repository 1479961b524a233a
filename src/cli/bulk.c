/* bulk.c - input enumeration, sharding and the dump-slot scheduler of
 * bulk scans; see bulk.h for the contract.
 *
 * Directory walks use an explicit stack of directory paths (one directory
 * stream open at a time, however deep the tree) and a hash set of the
 * (device, inode) of every directory entered, which stops symlink loops.
 * The files of one argument are sorted by path at the end, so the order
 * does not depend on readdir.
 *
 * The scheduler's output stage is one mutex (`lock`) guarding the next
 * index to write, a binary min-heap of results held back for --sort, the
 * byte count they hold, and the progress counters.  ops->write runs under
 * that mutex, so records of different dumps never interleave. */
#define _GNU_SOURCE /* getdelim, fstatat */
#include "bulk.h"

#include <dirent.h>
#include <fnmatch.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* ---- input list -------------------------------------------------------- */

/* Append one input; takes ownership of path (freed on failure). */
static ds_err add_input(bulk_inputs *in, char *path, const struct stat *st, int walk_errno,
                        ds_errbuf *eb)
{
    if (!path)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory listing inputs");
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        bulk_input *v = cap <= BULK_MAX_INPUTS ? realloc(in->v, cap * sizeof(*v)) : NULL;
        if (!v) {
            free(path);
            return ds_fail(eb, DS_ERR_NOMEM, "too many inputs (out of memory)");
        }
        in->v = v;
        in->cap = cap;
    }
    bulk_input *it = &in->v[in->n++];
    *it = (bulk_input){.path = path, .walk_errno = walk_errno};
    if (st) {
        it->has_id = true;
        it->id = (ds_fileid){(uint64_t)st->st_dev, (uint64_t)st->st_ino};
        it->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    }
    return DS_OK;
}

void bulk_inputs_free(bulk_inputs *in)
{
    for (size_t i = 0; i < in->n; i++)
        free(in->v[i].path);
    free(in->v);
    memset(in, 0, sizeof(*in));
}

static int cmp_input_path(const void *a, const void *b)
{
    return strcmp(((const bulk_input *)a)->path, ((const bulk_input *)b)->path);
}

/* ---- directory walk ----------------------------------------------------- */

/* Open-addressing set of directory identities (device, inode). */
typedef struct id_set {
    ds_fileid *v;
    bool *used;
    size_t cap, n;
} id_set;

static size_t id_hash(const ds_fileid *id)
{
    uint64_t k[2] = {(uint64_t)id->dev, (uint64_t)id->ino};
    return (size_t)XXH3_64bits(k, sizeof(k));
}

static bool id_eq(const ds_fileid *a, const ds_fileid *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

static bool id_set_grow(id_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 256;
    ds_fileid *v = calloc(cap, sizeof(*v));
    bool *used = calloc(cap, sizeof(*used));
    if (!v || !used) {
        free(v);
        free(used);
        return false;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->used[i])
            continue;
        size_t j = id_hash(&s->v[i]) & (cap - 1);
        while (used[j])
            j = (j + 1) & (cap - 1);
        v[j] = s->v[i];
        used[j] = true;
    }
    free(s->v);
    free(s->used);
    s->v = v;
    s->used = used;
    s->cap = cap;
    return true;
}

/* Insert id; 1 when new, 0 when already there, -1 out of memory. */
static int id_set_insert(id_set *s, const ds_fileid *id)
{
    if ((s->n + 1) * 2 > s->cap && !id_set_grow(s))
        return -1;
    size_t j = id_hash(id) & (s->cap - 1);
    while (s->used[j]) {
        if (id_eq(&s->v[j], id))
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->v[j] = *id;
    s->used[j] = true;
    s->n++;
    return 1;
}

static void id_set_free(id_set *s)
{
    free(s->v);
    free(s->used);
}

static bool excluded(const bulk_collect_opts *o, const struct stat *st)
{
    return ds_fileid_set_has(o->exclude, (ds_fileid){(uint64_t)st->st_dev, (uint64_t)st->st_ino});
}

/* dir + "/" + name, without doubling a trailing slash. */
static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (!slash)
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

typedef struct dir_stack {
    char **v;
    size_t n, cap;
} dir_stack;

static bool dir_push(dir_stack *s, char *path)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = path;
    return true;
}

/* --include: a file name matching one glob (or no globs at all). */
static bool included(const bulk_collect_opts *o, const char *name)
{
    for (size_t i = 0; i < o->ninclude; i++)
        if (fnmatch(o->include[i], name, 0) == 0)
            return true;
    return o->ninclude == 0;
}

/* Read one directory: files become inputs, new subdirectories go on the
 * stack.  A directory that cannot be opened becomes an input itself. */
static ds_err walk_one(bulk_inputs *out, char *dir, dir_stack *stack, id_set *seen,
                       const bulk_collect_opts *o, ds_errbuf *eb)
{
    DIR *d = opendir(dir);
    if (!d)
        return add_input(out, dir, NULL, errno ? errno : EIO, eb);
    ds_err e = DS_OK;
    struct dirent *ent;
    while (e == DS_OK && (ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        struct stat st;
        /* follows symlinks; a dangling one fails and is skipped */
        if (fstatat(dirfd(d), name, &st, 0) != 0 || excluded(o, &st))
            continue;
        if (S_ISREG(st.st_mode)) {
            if (included(o, name))
                e = add_input(out, join_path(dir, name), &st, 0, eb);
        } else if (S_ISDIR(st.st_mode)) {
            ds_fileid id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino};
            int fresh = id_set_insert(seen, &id);
            if (fresh < 0) {
                e = ds_fail(eb, DS_ERR_NOMEM, "out of memory walking %s", dir);
            } else if (fresh) {
                char *sub = join_path(dir, name);
                if (!sub || !dir_push(stack, sub)) {
                    free(sub);
                    e = ds_fail(eb, DS_ERR_NOMEM, "out of memory walking %s", dir);
                }
            }
        }
    }
    closedir(d);
    free(dir);
    return e;
}

static ds_err walk_dir(bulk_inputs *out, const char *root, const struct stat *root_st,
                       const bulk_collect_opts *o, ds_errbuf *eb)
{
    size_t first = out->n;
    dir_stack stack = {0};
    id_set seen = {0};
    ds_fileid rid = {root_st->st_dev, root_st->st_ino};
    char *r = strdup(root);
    ds_err e = DS_OK;
    if (!r || id_set_insert(&seen, &rid) < 0 || !dir_push(&stack, r)) {
        free(r);
        e = ds_fail(eb, DS_ERR_NOMEM, "out of memory walking %s", root);
    }
    while (e == DS_OK && stack.n > 0) {
        char *dir = stack.v[--stack.n];
        e = walk_one(out, dir, &stack, &seen, o, eb);
    }
    while (stack.n > 0)
        free(stack.v[--stack.n]);
    free(stack.v);
    id_set_free(&seen);
    if (e == DS_OK && out->n > first)
        qsort(out->v + first, out->n - first, sizeof(*out->v), cmp_input_path);
    return e;
}

/* One command-line argument (or list entry) other than "-". */
static ds_err collect_path(bulk_inputs *out, const char *arg, const bulk_collect_opts *o,
                           ds_errbuf *eb)
{
    struct stat st;
    bool ok = stat(arg, &st) == 0;
    if (ok && S_ISDIR(st.st_mode))
        return walk_dir(out, arg, &st, o, eb);
    return add_input(out, strdup(arg), ok ? &st : NULL, 0, eb);
}

/* A list entry is a path: at most PATH_MAX bytes and, in a newline list,
 * no NUL or other control byte (a tab is allowed; a NUL-separated list
 * may hold any name Linux allows). */
static bool list_entry_text(const char *s, size_t len, bool null_sep)
{
    if (len > PATH_MAX)
        return false;
    for (size_t i = 0; i < len && !null_sep; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return false;
    return true;
}

/* The "-" list: newline (a trailing CR is dropped) or NUL separated;
 * empty entries are skipped. */
static ds_err collect_list(bulk_inputs *out, const bulk_collect_opts *o, ds_errbuf *eb)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    ds_err e = DS_OK;
    int sep = o->null_sep ? 0 : '\n';
    size_t entry = 0;
    if (!o->list_in)
        return ds_fail(eb, DS_ERR_ARG, "no input list stream");
    while (e == DS_OK && (n = getdelim(&line, &cap, sep, o->list_in)) > 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == (char)sep)
            line[--len] = 0;
        if (!o->null_sep && len && line[len - 1] == '\r')
            line[--len] = 0;
        if (len == 0)
            continue;
        if (!list_entry_text(line, len, o->null_sep)) {
            e = ds_fail(eb, DS_ERR_ARG, "the list on standard input is not a list of paths "
                        "(entry %zu has control bytes or is over %d bytes: a dump piped in?)",
                        entry + 1, PATH_MAX);
            break;
        }
        entry++;
        e = collect_path(out, line, o, eb);
    }
    if (e == DS_OK && ferror(o->list_in))
        e = ds_fail(eb, DS_ERR_IO, "cannot read the input list: %s", strerror(errno));
    free(line);
    return e;
}

ds_err bulk_collect(bulk_inputs *out, char *const *args, size_t nargs,
                    const bulk_collect_opts *o, ds_errbuf *eb)
{
    ds_err e = DS_OK;
    bool list_read = false;
    for (size_t i = 0; e == DS_OK && i < nargs; i++) {
        if (strcmp(args[i], "-") == 0) {
            if (!list_read) /* a second "-" would find the stream at its end */
                e = collect_list(out, o, eb);
            list_read = true;
        } else {
            e = collect_path(out, args[i], o, eb);
        }
    }
    return e;
}

/* ---- sharding ---------------------------------------------------------------- */

static bool parse_uint(const char *s, size_t len, unsigned *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 7)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = (unsigned)v;
    return true;
}

bool bulk_shard_parse(const char *s, unsigned *k, unsigned *n)
{
    const char *slash = strchr(s, '/');
    if (!slash || !parse_uint(s, (size_t)(slash - s), k) ||
        !parse_uint(slash + 1, strlen(slash + 1), n))
        return false;
    return *k >= 1 && *n <= 1000000 && *k <= *n;
}

bool bulk_shard_keep(const char *path, unsigned k, unsigned n)
{
    return XXH3_64bits(path, strlen(path)) % n == (uint64_t)(k - 1);
}

void bulk_inputs_shard(bulk_inputs *in, unsigned k, unsigned n)
{
    size_t w = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (bulk_shard_keep(in->v[i].path, k, n))
            in->v[w++] = in->v[i];
        else
            free(in->v[i].path);
    }
    in->n = w;
}

/* ---- scheduler --------------------------------------------------------------- */

typedef struct held_item {
    size_t index;
    void *payload;
    size_t cost;
} held_item;

typedef struct run_state {
    const bulk_cfg *cfg;
    const bulk_ops *ops;
    atomic_size_t cursor;     /* next input to start */
    atomic_bool stop;         /* the output failed: start nothing more */

    pthread_mutex_t lock;     /* the output lock: everything below */
    pthread_cond_t turn;      /* `next` advanced or held bytes dropped */
    size_t next;              /* --sort: the index to write next */
    held_item *heap;          /* --sort: results waiting, min-heap on index */
    size_t nheap, capheap;
    size_t held_bytes;

    /* progress */
    pthread_cond_t wake;      /* ends the progress thread early */
    bool finished;
    bool line_visible;        /* a terminal progress line is on screen */
    uint64_t t0;
    uint64_t total_size, done_size, scanned;
    size_t done, failed, skipped;
} run_state;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* -- held-back results (binary min-heap on index) -- */

static bool heap_push(run_state *r, held_item it)
{
    if (r->nheap == r->capheap) {
        size_t cap = r->capheap ? r->capheap * 2 : 64;
        held_item *h = realloc(r->heap, cap * sizeof(*h));
        if (!h)
            return false;
        r->heap = h;
        r->capheap = cap;
    }
    size_t i = r->nheap++;
    while (i > 0 && r->heap[(i - 1) / 2].index > it.index) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = it;
    return true;
}

static held_item heap_pop(run_state *r)
{
    held_item top = r->heap[0], last = r->heap[--r->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->nheap)
            break;
        if (c + 1 < r->nheap && r->heap[c + 1].index < r->heap[c].index)
            c++;
        if (r->heap[c].index >= last.index)
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->nheap)
        r->heap[i] = last;
    return top;
}

/* -- progress -- */

static void clear_line(run_state *r)
{
    if (r->line_visible) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        r->line_visible = false;
    }
}

static void human_bytes(char *buf, size_t cap, uint64_t b)
{
    if (b >= 1000000000ull)
        snprintf(buf, cap, "%.2f GB", (double)b / 1e9);
    else
        snprintf(buf, cap, "%.1f MB", (double)b / 1e6);
}

static void human_eta(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e8) {
        snprintf(buf, cap, "?");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%luh%02lum%02lus", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%lum%02lus", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lus", t);
}

/* Bytes read of the dumps in flight (per-chunk counters of the slots). */
static uint64_t live_bytes(const run_state *r)
{
    uint64_t n = 0;
    for (unsigned i = 0; r->cfg->live && i < r->cfg->jobs; i++)
        n += atomic_load_explicit(&r->cfg->live[i], memory_order_relaxed);
    return n;
}

/* Columns of the terminal on stderr (0 when unknown). */
static unsigned term_width(void)
{
    struct winsize ws;
    return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 ? ws.ws_col : 0;
}

/* Print the progress line; caller holds the lock.  Bytes count inside a
 * dump as its chunks are scanned, and the ETA comes from bytes; on a
 * terminal the line is cut to its width (a wrapped line could not be
 * rewritten in place). */
static void print_progress(run_state *r)
{
    double el = (double)(now_ns() - r->t0) / 1e9;
    size_t total = r->cfg->in->n;
    uint64_t live = live_bytes(r);
    uint64_t done_bytes = r->done_size + live;
    if (r->total_size && done_bytes > r->total_size)
        done_bytes = r->total_size;
    char done_b[32], total_b[32], eta[32], line[256];
    human_bytes(done_b, sizeof(done_b), done_bytes);
    human_bytes(total_b, sizeof(total_b), r->total_size);
    double eta_s = -1;
    if (r->done == total)
        eta_s = 0;
    else if (el > 0 && r->total_size && done_bytes)
        eta_s = (double)(r->total_size - done_bytes) * el / (double)done_bytes;
    else if (el > 0 && r->done)
        eta_s = (double)(total - r->done) * el / (double)r->done;
    human_eta(eta, sizeof(eta), eta_s);
    double gbps = el > 0 ? (double)(r->scanned + live) / el / 1e9 : 0;
    double rate = el > 0 ? (double)r->done / el : 0;
    bool tty = r->cfg->progress == 1;
    int n = snprintf(line, sizeof(line),
                     "[%zu/%zu dumps, %.0f/s] %s of %s, %.2f GB/s, %zu failed, %zu skipped, "
                     "ETA %s",
                     r->done, total, rate, done_b, total_b, gbps, r->failed, r->skipped, eta);
    unsigned cols = tty ? term_width() : 0;
    if (n > 0 && cols > 1 && (unsigned)n >= cols)
        line[cols - 1] = 0;
    fprintf(stderr, "%s%s%s", tty ? "\r\033[K" : "", line, tty ? "" : "\n");
    fflush(stderr);
    r->line_visible = tty;
}

static void *progress_main(void *arg)
{
    run_state *r = arg;
    uint64_t period = r->cfg->progress_ms ? (uint64_t)r->cfg->progress_ms * 1000000u
                      : r->cfg->progress == 1 ? 200000000u : 1000000000u;
    pthread_mutex_lock(&r->lock);
    while (!r->finished) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t t = (uint64_t)ts.tv_nsec + period;
        ts.tv_sec += (time_t)(t / 1000000000u);
        ts.tv_nsec = (long)(t % 1000000000u);
        pthread_cond_timedwait(&r->wake, &r->lock, &ts);
        if (!r->finished)
            print_progress(r);
    }
    /* the last line stays: every dump accounted for, the rate of the run */
    clear_line(r);
    print_progress(r);
    if (r->line_visible)
        fputc('\n', stderr);
    r->line_visible = false;
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* -- output stage -- */

/* Caller holds the lock. */
static void write_payload(run_state *r, size_t index, void *payload)
{
    if (!r->ops->write(r->ops->ctx, index, payload))
        atomic_store(&r->stop, true);
}

/* Write every held result whose turn has come; caller holds the lock. */
static void drain_held(run_state *r)
{
    while (r->nheap > 0 && r->heap[0].index == r->next) {
        held_item it = heap_pop(r);
        r->held_bytes -= it.cost;
        write_payload(r, it.index, it.payload);
        r->next++;
    }
}

static void deliver(run_state *r, unsigned slot, size_t index, const bulk_result *res)
{
    pthread_mutex_lock(&r->lock);
    if (r->cfg->live)
        atomic_store(&r->cfg->live[slot], 0); /* counted whole in done_size now */
    r->done++;
    r->failed += res->outcome == BULK_FAILED;
    r->skipped += res->outcome == BULK_SKIPPED;
    r->done_size += r->cfg->in->v[index].size;
    r->scanned += res->bytes_scanned;
    if (res->touches_terminal)
        clear_line(r);
    if (!r->cfg->sort) {
        write_payload(r, index, res->payload);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    size_t cost = res->held_bytes + sizeof(held_item);
    for (;;) {
        if (index == r->next) {
            write_payload(r, index, res->payload);
            r->next++;
            drain_held(r);
            pthread_cond_broadcast(&r->turn);
            break;
        }
        /* Ahead of its turn: hold it while there is room, else wait
         * (the result whose turn it is is being made by another slot). */
        if (r->held_bytes + cost <= r->cfg->hold_max &&
            heap_push(r, (held_item){index, res->payload, cost})) {
            r->held_bytes += cost;
            break;
        }
        pthread_cond_wait(&r->turn, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

typedef struct slot_arg {
    run_state *r;
    unsigned slot;
} slot_arg;

static void *slot_main(void *arg)
{
    slot_arg *a = arg;
    run_state *r = a->r;
    size_t n = r->cfg->in->n;
    while (!atomic_load(&r->stop) && !(r->cfg->stop && atomic_load(r->cfg->stop))) {
        size_t i = atomic_fetch_add(&r->cursor, 1);
        if (i >= n)
            break;
        bulk_result res = r->ops->process(r->ops->ctx, a->slot, i);
        deliver(r, a->slot, i, &res);
    }
    return NULL;
}

ds_err bulk_run(const bulk_cfg *cfg, const bulk_ops *ops, ds_errbuf *eb)
{
    run_state r;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.ops = ops;
    atomic_init(&r.cursor, 0);
    atomic_init(&r.stop, false);
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.turn, NULL);
    pthread_cond_init(&r.wake, NULL);
    r.t0 = now_ns();
    for (size_t i = 0; i < cfg->in->n; i++)
        r.total_size += cfg->in->v[i].size;

    unsigned jobs = cfg->jobs ? cfg->jobs : 1;
    if ((size_t)jobs > cfg->in->n)
        jobs = cfg->in->n ? (unsigned)cfg->in->n : 1;
    pthread_t *tids = calloc(jobs, sizeof(*tids));
    slot_arg *args = calloc(jobs, sizeof(*args));
    ds_err e = tids && args ? DS_OK : ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    pthread_t prog;
    bool prog_started = false;
    if (e == DS_OK && cfg->progress)
        prog_started = pthread_create(&prog, NULL, progress_main, &r) == 0;
    unsigned started = 0;
    for (; e == DS_OK && started < jobs; started++) {
        args[started] = (slot_arg){&r, started};
        if (pthread_create(&tids[started], NULL, slot_main, &args[started]) != 0)
            break; /* run with the slots that did start */
    }
    if (e == DS_OK && started == 0)
        e = ds_fail(eb, DS_ERR_IO, "cannot start a dump thread");
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    /* Every started index was delivered, so the heap is empty; this only
     * frees what a failure above could leave. */
    pthread_mutex_lock(&r.lock);
    while (r.nheap > 0) {
        held_item it = heap_pop(&r);
        write_payload(&r, it.index, it.payload);
    }
    r.finished = true;
    pthread_cond_broadcast(&r.wake);
    pthread_mutex_unlock(&r.lock);
    if (prog_started)
        pthread_join(prog, NULL);
    free(r.heap);
    free(tids);
    free(args);
    pthread_cond_destroy(&r.wake);
    pthread_cond_destroy(&r.turn);
    pthread_mutex_destroy(&r.lock);
    return e;
}
