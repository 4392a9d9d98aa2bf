#include "batch/bt_output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

static void clear(bt_output *o)
{
    g_free(o->final);
    g_free(o->tmp);
    memset(o, 0, sizeof *o);
}

int bt_output_begin(const char *path, bt_output *o, docvl_error *e)
{
    memset(o, 0, sizeof *o);
    char *dir = g_path_get_dirname(path);
    char *base = g_path_get_basename(path);
    int rc = DOCVL_OK;
    if (g_mkdir_with_parents(dir, 0777) != 0)
        rc = bt_fail(e, DOCVL_EIO, "cannot create %s: %s", dir, strerror(errno));
    o->final = g_strdup(path);
    o->tmp = g_strdup_printf("%s/.%s.part", dir, base);
    g_free(dir);
    g_free(base);
    int fd = rc ? -1 : open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (rc == DOCVL_OK && fd < 0)
        rc = bt_fail(e, DOCVL_EIO, "cannot create %s: %s", o->tmp, strerror(errno));
    if (rc == DOCVL_OK && !(o->f = fdopen(fd, "w"))) {
        rc = bt_fail(e, DOCVL_EIO, "cannot open %s: %s", o->tmp, strerror(errno));
        close(fd);
        unlink(o->tmp);
    }
    if (rc)
        clear(o);
    return rc;
}

/* The rename is durable only once the directory itself is synced. */
static int sync_dir(const char *file)
{
    char *dir = g_path_get_dirname(file);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    g_free(dir);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int bt_output_commit(bt_output *o, docvl_error *e)
{
    int ok = fflush(o->f) == 0 && !ferror(o->f) && fsync(fileno(o->f)) == 0;
    ok = fclose(o->f) == 0 && ok;
    o->f = NULL;
    ok = ok && rename(o->tmp, o->final) == 0 && sync_dir(o->final) == 0;
    int rc = ok ? DOCVL_OK : bt_fail(e, DOCVL_EIO, "writing %s: %s", o->final, strerror(errno));
    if (!ok)
        unlink(o->tmp);
    clear(o);
    return rc;
}

void bt_output_abort(bt_output *o)
{
    if (o->f) {
        fclose(o->f);
        unlink(o->tmp);
    }
    clear(o);
}
