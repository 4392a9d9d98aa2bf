#include "batch/bt_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>


struct bt_lock {
    char *path;
    int fd;
};

/* The file may have been removed by the previous holder between our open
 * and our flock: then we hold a lock on a name nobody else sees, and must
 * open the path again. */
static int still_there(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

static int lock_fd(int fd, int wait)
{
    int r;
    while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
    }
    return r;
}

int bt_lock_take(const char *dir, const char *key, int wait, bt_lock **out, docvl_error *e)
{
    *out = NULL;
    char *ldir = g_build_filename(dir, BT_LOCK_DIR, NULL);
    char name[32];
    snprintf(name, sizeof name, "%016llx.lock",
             (unsigned long long)bt_hash(key));
    char *path = g_build_filename(ldir, name, NULL);
    int rc = DOCVL_OK;
    if (g_mkdir_with_parents(ldir, 0777) != 0)
        rc = bt_fail(e, DOCVL_EIO, "cannot create %s: %s", ldir, strerror(errno));
    while (rc == DOCVL_OK) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            rc = bt_fail(e, DOCVL_EIO, "cannot open lock %s: %s", path, strerror(errno));
            break;
        }
        if (lock_fd(fd, wait) != 0) {
            int busy = errno == EWOULDBLOCK;
            close(fd);
            if (!busy)
                rc = bt_fail(e, DOCVL_EIO, "cannot lock %s: %s", path, strerror(errno));
            break;
        }
        if (still_there(fd, path)) {
            bt_lock *l = g_new0(bt_lock, 1);
            l->path = path;
            l->fd = fd;
            path = NULL;
            *out = l;
            break;
        }
        close(fd);
    }
    g_free(path);
    g_free(ldir);
    return rc;
}

void bt_lock_release(bt_lock *l)
{
    if (!l)
        return;
    unlink(l->path);
    close(l->fd);
    g_free(l->path);
    g_free(l);
}
