/*
 * af-mounter: the few mount(2) calls the bubblewrap warm pool needs, for a
 * server that runs as root (Node has no binding for them). It stays resident,
 * so a claim costs a pipe round trip rather than starting mount(8) four times.
 *
 * A pooled sandbox is started with /workspace bound from an empty slot folder
 * that is a shared mount point on the host; bwrap makes its own copy a slave
 * of it. Attaching a session's workspace mounts the workspace folder on top of
 * the slot folder, and the kernel propagates that mount into the sandbox, where
 * it covers /workspace. The mount is built detached (open_tree), given nosuid
 * and nodev (as bwrap's own --bind is) before it is attached (move_mount), so
 * the copy the sandbox receives has the same flags a cold start gives.
 *
 * Requests on stdin, each a command and its paths as NUL-terminated fields:
 *   prepare SLOT            make SLOT a shared mount point (a bind of itself)
 *   attach WORKSPACE SLOT   mount WORKSPACE on SLOT, nosuid,nodev
 *   detach SLOT             unmount what is on SLOT and SLOT itself
 * Each gets one line on stdout: "ok" or "err <why>". Slots must be inside the
 * folder given as argv[1], workspaces inside argv[2]; nothing else is touched.
 * At the end of its input (the server has exited, even killed) it unmounts and
 * removes every slot left in argv[1], so no mount outlives the server.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define MAX_FIELD 4096

static const char *slot_root, *workspace_root;

/* One NUL-terminated field from stdin; 0 at end of input or on an overlong field. */
static int read_field(char *buf) {
  for (size_t n = 0; n < MAX_FIELD; n++) {
    int c = getchar();
    if (c == EOF) return 0;
    buf[n] = (char)c;
    if (c == 0) return 1;
  }
  return 0;
}

/* Inside `root`: below it, absolute, with no "." or ".." component. */
static int inside(const char *path, const char *root) {
  size_t n = strlen(root);
  if (strncmp(path, root, n) != 0 || path[n] != '/' || path[n + 1] == 0) return 0;
  for (const char *s = path + n; *s; s++) {
    if (*s != '/') continue;
    if (!strncmp(s, "/./", 3) || !strcmp(s, "/.") || !strncmp(s, "/../", 4) || !strcmp(s, "/..") || !strncmp(s, "//", 2)) return 0;
  }
  return 1;
}

static void reply(int ok, const char *what) {
  if (ok) printf("ok\n");
  else printf("err %s: %s\n", what, strerror(errno));
  fflush(stdout);
}

static void prepare(const char *slot) {
  if (mount(slot, slot, NULL, MS_BIND, NULL) < 0) return reply(0, "bind the slot");
  reply(mount(NULL, slot, NULL, MS_SHARED, NULL) == 0, "share the slot");
}

static void attach(const char *workspace, const char *slot) {
  int fd = open_tree(AT_FDCWD, workspace, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (fd < 0) return reply(0, "clone the workspace");
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
  if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return reply(0, "set nosuid,nodev");
  }
  int r = move_mount(fd, "", AT_FDCWD, slot, MOVE_MOUNT_F_EMPTY_PATH);
  int e = errno;
  close(fd);
  errno = e;
  reply(r == 0, "mount the workspace on the slot");
}

/* The workspace on top, then the slot's own bind; EINVAL once nothing is mounted there. */
static int unmount_all(const char *slot) {
  for (int i = 0; i < 4; i++) {
    if (umount2(slot, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return errno == EINVAL ? 0 : -1;
  }
  return 0;
}

static void detach(const char *slot) { reply(unmount_all(slot) == 0, "unmount the slot"); }

static void clean_up_slots(void) {
  DIR *d = opendir(slot_root);
  if (!d) return;
  struct dirent *e;
  char path[MAX_FIELD * 2];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", slot_root, e->d_name);
    if (unmount_all(path) == 0) rmdir(path);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
    fprintf(stderr, "usage: af-mounter SLOT_ROOT WORKSPACE_ROOT\n");
    return 2;
  }
  slot_root = argv[1];
  workspace_root = argv[2];
  static char cmd[MAX_FIELD], a[MAX_FIELD], b[MAX_FIELD];
  while (read_field(cmd)) {
    if (!strcmp(cmd, "prepare") || !strcmp(cmd, "detach")) {
      if (!read_field(a)) break;
      if (!inside(a, slot_root)) { errno = EPERM; reply(0, "not a slot"); continue; }
      if (cmd[0] == 'p') prepare(a);
      else detach(a);
    } else if (!strcmp(cmd, "attach")) {
      if (!read_field(a) || !read_field(b)) break;
      if (!inside(a, workspace_root) || !inside(b, slot_root)) { errno = EPERM; reply(0, "not a workspace and a slot"); continue; }
      attach(a, b);
    } else {
      errno = EINVAL;
      reply(0, "unknown request");
      break;
    }
  }
  clean_up_slots();
  return 0;
}
