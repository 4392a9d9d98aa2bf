#include "batch/bt_inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>


#define BT_DEFAULT_EXTS "pdf,png,jpg,jpeg,pnm,pbm,pgm,ppm,bmp,tga,tif,tiff"

struct bt_inputs {
    GArray *items;      /* bt_input */
    char **exts;
    GArray *skip;       /* struct stat of directories not to walk */
};

bt_inputs *bt_inputs_new(const char *exts)
{
    bt_inputs *l = g_new0(bt_inputs, 1);
    l->items = g_array_new(FALSE, TRUE, sizeof(bt_input));
    l->exts = g_strsplit(exts ? exts : BT_DEFAULT_EXTS, ",", -1);
    l->skip = g_array_new(FALSE, TRUE, sizeof(struct stat));
    return l;
}

void bt_inputs_free(bt_inputs *l)
{
    if (!l)
        return;
    for (guint i = 0; i < l->items->len; i++) {
        bt_input *it = &g_array_index(l->items, bt_input, i);
        g_free(it->path);
        g_free(it->rel);
    }
    g_array_free(l->items, TRUE);
    g_array_free(l->skip, TRUE);
    g_strfreev(l->exts);
    g_free(l);
}

void bt_inputs_skip_dir(bt_inputs *l, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        g_array_append_val(l->skip, st);
}

size_t bt_inputs_count(const bt_inputs *l) { return l->items->len; }

const bt_input *bt_inputs_get(const bt_inputs *l, size_t i)
{
    return &g_array_index(l->items, bt_input, i);
}

static void push(bt_inputs *l, char *path, char *rel)
{
    bt_input it = { path, rel };
    g_array_append_val(l->items, it);
}

/* The path's parts without empty and "." ones, joined by '/'; NULL when a
 * part is ".." or nothing is left. */
static char *clean_rel(const char *path)
{
    char **parts = g_strsplit(path, "/", -1);
    GString *s = g_string_new(NULL);
    int bad = 0;
    for (char **p = parts; *p; p++) {
        if (!**p || strcmp(*p, ".") == 0)
            continue;
        if (strcmp(*p, "..") == 0)
            bad = 1;
        if (s->len)
            g_string_append_c(s, '/');
        g_string_append(s, *p);
    }
    g_strfreev(parts);
    /* a copy of its own size: the list keeps one for every input */
    char *rel = bad || !s->len ? NULL : g_strndup(s->str, s->len);
    g_string_free(s, TRUE);
    return rel;
}

static int wanted_ext(const bt_inputs *l, const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return 0;
    for (char **x = l->exts; *x; x++) {
        if (g_ascii_strcasecmp(dot + 1, *x) == 0)
            return 1;
    }
    return 0;
}

static int skipped_dir(const bt_inputs *l, const struct stat *st)
{
    for (guint i = 0; i < l->skip->len; i++) {
        const struct stat *s = &g_array_index(l->skip, struct stat, i);
        if (s->st_dev == st->st_dev && s->st_ino == st->st_ino)
            return 1;
    }
    return 0;
}

/* Walks dir (whose output prefix is rel, "" at the top), sorted later. */
static int walk(bt_inputs *l, const char *dir, const char *rel, int depth, docvl_error *e)
{
    if (depth > 64)
        return bt_fail(e, DOCVL_ELIMIT, "%s: directories nested deeper than 64", dir);
    DIR *d = opendir(dir);
    if (!d)
        return bt_fail(e, DOCVL_EIO, "cannot read directory %s: %s", dir, strerror(errno));
    int rc = DOCVL_OK;
    struct dirent *de;
    while (rc == DOCVL_OK && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *path = g_build_filename(dir, de->d_name, NULL);
        char *sub = *rel ? g_strconcat(rel, "/", de->d_name, NULL) : g_strdup(de->d_name);
        struct stat lst, st;
        int is_link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
        if (stat(path, &st) != 0) {
            /* a dangling link or a file removed meanwhile is not a document */
        } else if (S_ISDIR(st.st_mode)) {
            if (!is_link && !skipped_dir(l, &st))
                rc = walk(l, path, sub, depth + 1, e);
        } else if (S_ISREG(st.st_mode) && wanted_ext(l, de->d_name)) {
            push(l, path, sub);
            path = sub = NULL;
        }
        g_free(path);
        g_free(sub);
    }
    closedir(d);
    return rc;
}

int bt_inputs_add(bt_inputs *l, const char *arg, docvl_error *e)
{
    struct stat st;
    if (strcmp(arg, "-") == 0)
        return bt_fail(e, DOCVL_EINVAL, "a batch cannot read a document from standard input "
                                        "('--from -' reads the list of paths from it)");
    if (stat(arg, &st) != 0)
        return bt_fail(e, DOCVL_EIO, "%s: %s", arg, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return skipped_dir(l, &st) ? DOCVL_OK : walk(l, arg, "", 0, e);
    char *rel = clean_rel(arg);
    if (!rel)
        return bt_fail(e, DOCVL_EINVAL,
                       "%s: a path with '..' would put its output outside the output "
                       "directory; give its directory instead", arg);
    push(l, g_strdup(arg), rel);
    return DOCVL_OK;
}

static int read_all(const char *file, GString *s, docvl_error *e)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f)
        return bt_fail(e, DOCVL_EIO, "cannot open list %s: %s", file, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        g_string_append_len(s, buf, (gssize)n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad)
        return bt_fail(e, DOCVL_EIO, "reading list %s: %s", file, strerror(errno));
    return DOCVL_OK;
}

int bt_inputs_add_list(bt_inputs *l, const char *file, int nul, docvl_error *e)
{
    GString *s = g_string_new(NULL);
    int rc = read_all(file, s, e);
    char sep = nul || memchr(s->str, '\0', s->len) ? '\0' : '\n';
    for (size_t i = 0; rc == DOCVL_OK && i < s->len;) {
        const char *start = s->str + i;
        const char *end = memchr(start, sep, s->len - i);
        size_t len = end ? (size_t)(end - start) : s->len - i;
        i += len + 1;
        if (sep == '\n' && len && start[len - 1] == '\r')
            len--;   /* a list written on Windows */
        if (!len)
            continue;
        char *path = g_strndup(start, len);
        rc = bt_inputs_add(l, path, e);
        g_free(path);
    }
    g_string_free(s, TRUE);
    return rc;
}

static int by_rel(const void *a, const void *b)
{
    const bt_input *x = a, *y = b;
    int c = strcmp(x->rel, y->rel);
    return c ? c : strcmp(x->path, y->path);
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int bt_inputs_finish(bt_inputs *l, docvl_error *e)
{
    g_array_sort(l->items, by_rel);
    guint out = 0;
    for (guint i = 0; i < l->items->len; i++) {
        bt_input *it = &g_array_index(l->items, bt_input, i);
        bt_input *prev = out ? &g_array_index(l->items, bt_input, out - 1) : NULL;
        if (prev && strcmp(prev->rel, it->rel) == 0) {
            if (!same_file(prev->path, it->path))
                return bt_fail(e, DOCVL_EINVAL, "%s and %s would both write the output %s",
                               prev->path, it->path, it->rel);
            g_free(it->path);
            g_free(it->rel);
            continue;
        }
        g_array_index(l->items, bt_input, out++) = *it;
    }
    g_array_set_size(l->items, out);
    return DOCVL_OK;
}

int bt_shard_parse(const char *s, int *k, int *n, docvl_error *e)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    long b = 0;
    int ok = !errno && end != s && *end == '/';
    if (ok) {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        ok = !errno && end != t && !*end && b >= 1 && b <= 1000000 && a >= 1 && a <= b;
    }
    if (!ok)
        return bt_fail(e, DOCVL_EINVAL, "--shard wants K/N with 1 <= K <= N, not '%s'", s);
    *k = (int)a;
    *n = (int)b;
    return DOCVL_OK;
}

int bt_shard_has(const char *rel, int k, int n)
{
    return (int)(bt_hash(rel) % (unsigned long long)n) == k - 1;
}
