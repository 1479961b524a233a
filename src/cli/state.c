/* state.c - resumable state file of bulk scans; see state.h for the
 * format and the crash-safety rules.
 *
 * At open the whole file is read line by line (a line longer than
 * BULK_STATE_LINE_MAX cannot be valid and is skipped to its newline), each
 * valid line's key goes into an open-addressing hash set, and the file
 * stays open O_APPEND for new lines.  A line is accepted only when it is
 * exactly the canonical text bulk_state_format() would write for the key
 * it parses to, check digits included, so any torn or altered line fails
 * the comparison. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define STATE_MAGIC "dsst1"
#define STATE_MAX_KEYS ((size_t)1 << 28) /* 268 M finished dumps */

typedef struct slot {
    bulk_state_key k;
    bool used;
} slot;

struct bulk_state {
    int fd;
    char *path;
    slot *set;
    size_t cap;          /* power of two, 0 when empty */
    size_t nkeys;
    size_t ignored;
    bool failed;         /* a write or fsync failed */
    char fail_msg[200];
};

/* ---- lines --------------------------------------------------------------- */

size_t bulk_state_format(const bulk_state_key *k, char *buf)
{
    int n = snprintf(buf, BULK_STATE_LINE_MAX, STATE_MAGIC " %016" PRIx64 " %016" PRIx64
                     " %" PRIu64 " %" PRId64, k->path_hash, k->dump_id, k->size, k->mtime_ns);
    uint64_t check = XXH3_64bits(buf, (size_t)n);
    n += snprintf(buf + n, BULK_STATE_LINE_MAX - (size_t)n, " %016" PRIx64 "\n", check);
    return (size_t)n;
}

/* Next space-separated token of s[*pos..len) into tok (cap bytes). */
static bool next_token(const char *s, size_t len, size_t *pos, char *tok, size_t cap)
{
    size_t i = *pos, n = 0;
    while (i < len && s[i] != ' ') {
        if (n + 1 >= cap)
            return false;
        tok[n++] = s[i++];
    }
    tok[n] = 0;
    *pos = i < len ? i + 1 : i;
    return n > 0;
}

bool bulk_state_parse(const char *line, size_t len, bulk_state_key *k)
{
    char tok[32], *end;
    size_t pos = 0;
    if (len + 1 >= BULK_STATE_LINE_MAX)
        return false;
    if (!next_token(line, len, &pos, tok, sizeof(tok)) || strcmp(tok, STATE_MAGIC) != 0)
        return false;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        if (!next_token(line, len, &pos, tok, sizeof(tok)))
            return false;
        errno = 0;
        v[i] = strtoull(tok, &end, i < 2 ? 16 : 10);
        if (*end || errno)
            return false;
    }
    if (!next_token(line, len, &pos, tok, sizeof(tok)))
        return false;
    errno = 0;
    long long mt = strtoll(tok, &end, 10);
    if (*end || errno)
        return false;
    k->path_hash = v[0];
    k->dump_id = v[1];
    k->size = v[2];
    k->mtime_ns = mt;
    /* Canonical form only: re-format and compare, check digits included. */
    char canon[BULK_STATE_LINE_MAX];
    size_t n = bulk_state_format(k, canon);
    return n == len + 1 && memcmp(canon, line, len) == 0;
}

/* ---- key set --------------------------------------------------------------- */

static size_t key_hash(const bulk_state_key *k)
{
    return (size_t)XXH3_64bits(k, sizeof(*k));
}

static bool key_eq(const bulk_state_key *a, const bulk_state_key *b)
{
    return a->path_hash == b->path_hash && a->dump_id == b->dump_id && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

/* Insert without growing; the caller keeps the load below one half. */
static void set_put(slot *set, size_t cap, const bulk_state_key *k)
{
    size_t i = key_hash(k) & (cap - 1);
    while (set[i].used) {
        if (key_eq(&set[i].k, k))
            return;
        i = (i + 1) & (cap - 1);
    }
    set[i].k = *k;
    set[i].used = true;
}

static bool set_grow(bulk_state *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    slot *set = calloc(cap, sizeof(*set));
    if (!set)
        return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->set[i].used)
            set_put(set, cap, &s->set[i].k);
    free(s->set);
    s->set = set;
    s->cap = cap;
    return true;
}

static bool set_add(bulk_state *s, const bulk_state_key *k)
{
    if (s->nkeys >= STATE_MAX_KEYS)
        return false;
    if ((s->nkeys + 1) * 2 > s->cap && !set_grow(s))
        return false;
    if (!bulk_state_has(s, k)) {
        set_put(s->set, s->cap, k);
        s->nkeys++;
    }
    return true;
}

bool bulk_state_has(const bulk_state *s, const bulk_state_key *k)
{
    if (!s || !s->cap)
        return false;
    size_t i = key_hash(k) & (s->cap - 1);
    while (s->set[i].used) {
        if (key_eq(&s->set[i].k, k))
            return true;
        i = (i + 1) & (s->cap - 1);
    }
    return false;
}

/* ---- loading ----------------------------------------------------------------- */

/* One complete line (newline stripped) or an overlong one (too_long). */
static ds_err take_line(bulk_state *s, const char *line, size_t len, bool too_long,
                        ds_errbuf *eb)
{
    bulk_state_key k;
    if (len == 0 && !too_long)
        return DS_OK; /* blank line: the newline that closed a torn line */
    if (too_long || !bulk_state_parse(line, len, &k)) {
        s->ignored++;
        return DS_OK;
    }
    if (!set_add(s, &k))
        return ds_fail(eb, DS_ERR_NOMEM, "state file %s: too many entries", s->path);
    return DS_OK;
}

/* Read every line; *torn is set when the file does not end in a newline. */
static ds_err load_lines(bulk_state *s, bool *torn, ds_errbuf *eb)
{
    char buf[65536], line[BULK_STATE_LINE_MAX];
    size_t len = 0;
    bool too_long = false, any = false, last_nl = true;
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ds_fail(eb, DS_ERR_IO, "cannot read state file %s: %s", s->path,
                           strerror(errno));
        if (n == 0)
            break;
        any = true;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                ds_err e = take_line(s, line, len, too_long, eb);
                if (e != DS_OK)
                    return e;
                len = 0;
                too_long = false;
            } else if (len + 1 < sizeof(line)) {
                line[len++] = buf[i];
            } else {
                too_long = true;
            }
        }
        last_nl = buf[n - 1] == '\n';
    }
    *torn = any && !last_nl;
    if (*torn)
        s->ignored++; /* the cut-off last line */
    return DS_OK;
}

/* The opened file must be a regular file that is not an input. */
static ds_err check_target(bulk_state *s, const ds_fileid_set *deny, ds_errbuf *eb)
{
    struct stat st;
    ds_fileid id;
    if (fstat(s->fd, &st) != 0 || !ds_fileid_of_fd(s->fd, &id))
        return ds_fail(eb, DS_ERR_IO, "cannot examine state file %s: %s", s->path,
                       strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ds_fail(eb, DS_ERR_ARG, "state file %s is not a regular file", s->path);
    if (ds_fileid_set_has(deny, id))
        return ds_fail(eb, DS_ERR_ARG, "state file %s is one of the inputs: not written",
                       s->path);
    return DS_OK;
}

/* A non-empty file none of whose lines is valid is a state file only
 * when it starts like one (every line was torn or damaged). */
static ds_err check_is_state(bulk_state *s, ds_errbuf *eb)
{
    char head[sizeof(STATE_MAGIC)] = {0};
    struct stat st;
    if (s->nkeys > 0 || fstat(s->fd, &st) != 0 || st.st_size == 0)
        return DS_OK;
    ssize_t n = pread(s->fd, head, sizeof(head) - 1, 0);
    if (n == (ssize_t)sizeof(head) - 1 && memcmp(head, STATE_MAGIC, sizeof(head) - 1) == 0)
        return DS_OK;
    return ds_fail(eb, DS_ERR_ARG,
                   "%s is not a dumpscan state file (no \"" STATE_MAGIC "\" line): not written",
                   s->path);
}

ds_err bulk_state_open(bulk_state **out, const char *path, const ds_fileid_set *deny,
                       ds_errbuf *eb)
{
    *out = NULL;
    bulk_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    }
    /* O_NONBLOCK: a FIFO must not hang the open; no O_TRUNC, ever */
    s->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666);
    if (s->fd < 0) {
        ds_fail(eb, DS_ERR_IO, "cannot open state file %s: %s", path, strerror(errno));
        bulk_state_close(s, NULL);
        return DS_ERR_IO;
    }
    ds_err ce = check_target(s, deny, eb);
    if (ce != DS_OK) {
        bulk_state_close(s, NULL);
        return ce;
    }
    if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
        ds_fail(eb, DS_ERR_IO, errno == EWOULDBLOCK
                                   ? "state file %s is in use by another dumpscan run"
                                   : "cannot lock state file %s: %s",
                path, strerror(errno));
        bulk_state_close(s, NULL);
        return DS_ERR_IO;
    }
    bool torn = false;
    ds_err e = load_lines(s, &torn, eb);
    if (e == DS_OK)
        e = check_is_state(s, eb);
    if (e == DS_OK && torn && write(s->fd, "\n", 1) != 1)
        e = ds_fail(eb, DS_ERR_IO, "cannot write state file %s: %s", path, strerror(errno));
    if (e != DS_OK) {
        bulk_state_close(s, NULL);
        return e;
    }
    *out = s;
    return DS_OK;
}

/* ---- appending ------------------------------------------------------------ */

static ds_err note_failure(bulk_state *s, const char *what, int er)
{
    if (!s->failed)
        snprintf(s->fail_msg, sizeof(s->fail_msg), "%s state file %s: %s", what, s->path,
                 strerror(er));
    s->failed = true;
    return DS_ERR_IO;
}

ds_err bulk_state_add(bulk_state *s, const bulk_state_key *k)
{
    char line[BULK_STATE_LINE_MAX];
    size_t n = bulk_state_format(k, line);
    if (s->failed)
        return DS_ERR_IO;
    for (;;) {
        /* One write: O_APPEND puts the whole line at the end at once.  A
         * short write (disk full) leaves a torn line the loader ignores. */
        ssize_t w = write(s->fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == (ssize_t)n)
            return DS_OK;
        return note_failure(s, "writing", w < 0 ? errno : ENOSPC);
    }
}

ds_err bulk_state_sync(bulk_state *s)
{
    if (s->failed)
        return DS_ERR_IO;
    if (fsync(s->fd) != 0 && errno != EINVAL && errno != EROFS)
        return note_failure(s, "syncing", errno);
    return DS_OK;
}

size_t bulk_state_loaded(const bulk_state *s)
{
    return s->nkeys;
}

size_t bulk_state_ignored(const bulk_state *s)
{
    return s->ignored;
}

ds_err bulk_state_close(bulk_state *s, ds_errbuf *eb)
{
    if (!s)
        return DS_OK;
    ds_err e = DS_OK;
    if (s->fd >= 0) {
        if (!s->failed)
            bulk_state_sync(s);
        if (close(s->fd) != 0 && !s->failed)
            note_failure(s, "closing", errno);
    }
    if (s->failed)
        e = ds_fail(eb, DS_ERR_IO, "%s", s->fail_msg);
    free(s->set);
    free(s->path);
    free(s);
    return e;
}
