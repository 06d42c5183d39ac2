/*
 * af-runner: the in-sandbox half of a session.
 *
 * The server starts one runner per session as the first process inside the
 * sandbox and talks to it over stdin/stdout with length-prefixed frames.
 * It runs each command in a fresh shell (its own session and process group),
 * carries the working directory and exported variables from one command to
 * the next, streams output as it is written, enforces timeouts by killing the
 * command's whole process tree, and does file reads and writes from inside the
 * sandbox, so a symlink planted by the sandbox can never lead the server to a
 * host file.
 *
 * Why C and not TypeScript: the runner is resident in every session, so its
 * start-up time and idle memory are paid per session (a Node runner costs
 * ~40 ms and ~40 MB each; this one costs ~1 ms and well under 1 MB). It is
 * linked statically so it runs unchanged in any image with a Linux kernel.
 *
 * With --relay-port and --relay-socket it also forwards TCP connections on
 * the sandbox's own 127.0.0.1 to a unix socket bound in from the host: the
 * only way out of a sandbox that has no network, used to reach the model
 * gateway. --egress-port and --egress-socket start a second such relay, to
 * the server's egress proxy (the sandbox's HTTP_PROXY); before any command
 * runs, the runner asks that proxy for its CA's certificate (for the hosts
 * whose TLS it terminates to add a credential) and writes the sandbox's trust
 * bundle with it added.
 *
 * With --listen [ADDR:]PORT and --token-file PATH (a Kubernetes pod, where
 * no one holds the runner's stdin) it serves one TCP connection instead of
 * stdio: the client's first line must be the session's token, found in the
 * file either alone on a line or as the downward API writes a pod
 * annotation (astraforge.dev/runner-token="..."). The file is read at each
 * attempt, so a token the pod learns after it started (a warm pod claimed
 * later) is honoured. Anything else is dropped and the runner keeps waiting.
 * The line may go on with " relay=PORT,A.B.C.D:P": the gateway relay then
 * listens on the pod's 127.0.0.1:PORT and forwards to the server at
 * A.B.C.D:P over TCP (a pod has no socket of the server's to bind in); and
 * with " limits=NPROC,AS,FSIZE,CPU,NOFILE,DISK": the session's own limits
 * (a warm pod started before its session was known).
 *
 * Commands run as the runner's own uid, so the runner keeps them out of its
 * reach: it is not dumpable (its /proc files, fds and memory are closed to that
 * uid), it joins a session keyring of its own before any command runs, and
 * each command starts with only its own four fds and under a seccomp filter
 * (command-filter.c) that denies ptrace, pidfd_getfd, keyrings, namespaces and
 * the like.
 *
 * Frame: u32 payload length (LE), u32 id (LE), u8 type, payload.
 * Host -> runner: 'X' exec, 'K' kill exec, 'R' read file, 'W' write file (or
 *                 append to it: mode bit 31),
 *                 'Q' quota exceeded (payload: the notice; no reply).
 * Runner -> host: 'H' hello, 'O'/'E' output chunk, 'D' done, 'F' file data,
 *                 'A' ok, 'Z' error, 'N' notice.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/keyctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command-filter.h"

#define MAX_EXECS 64
#define MAX_DRAIN 256
#define MAX_FRAME (512u << 20)
#define CHUNK 65536
#define WORKSPACE "/workspace"
#define STATE_QUIET_MS 10

/* What both wrappers end with: restore the previous command's directory and
 * exported variables, run the command, and on exit report the new state on
 * fd 3 (first line the directory, then `export -p`). One definition, so the
 * two ways a shell gets its command cannot drift apart. */
#define WRAPPER_RUN \
    "cd -- \"${AF_CWD:-/workspace}\" 2>/dev/null || cd /workspace\n" \
    "eval \"$AF_STATE\" 2>/dev/null\n" \
    "unset AF_STATE AF_CWD\n" \
    "__af_save() { __af_rc=$?; { pwd; export -p; } >&3 2>/dev/null; exit $__af_rc; }\n" \
    "trap __af_save EXIT\n" \
    "eval \"$1\"\n"

/* Runs the user's command in a fresh shell, the state in the environment and the command in argv. */
static const char *WRAPPER = WRAPPER_RUN;

/* The same, with the state and the command read from fd 0 instead of the
 * environment and argv (no size limit but the runner's own), which lets the
 * shell start before the command is known: after a command ends the runner
 * starts the next one's shell (the spare), so the next command does not wait
 * for fork, exec, the dynamic loader and the shell's start-up (most of a short
 * command's time). The shell blocks reading fd 0; the runner writes AF_CWD,
 * AF_STATE and AF_CMD as quoted assignments, then AF_GO=1, and closes it; then
 * it goes on exactly as WRAPPER does, with the command in $1. Without AF_GO
 * (the runner dropped it, or died mid-script) it exits. */
static const char *SCRIPT_WRAPPER =
    ". /proc/self/fd/0 2>/dev/null\n"
    "[ \"${AF_GO:-}\" = 1 ] || exit 0\n"
    "exec </dev/null\n"
    "set -- \"$AF_CMD\"\n"
    "unset AF_GO AF_CMD\n"
    WRAPPER_RUN;

typedef struct {
  int used;
  uint32_t id;
  pid_t pid;
  int out_fd, err_fd, state_fd;
  int64_t deadline_ms;
  int64_t state_quiet_until;
  int script_fd; /* the script not yet all written (a large state), else -1 */
  char *script;
  size_t script_len, script_off;
  int timed_out, killed, quota;
  int exited, status;
  uint64_t sent, cap;
  int truncated;
  char *state;
  size_t state_len;
} Exec;

static Exec execs[MAX_EXECS];
static int drain_fds[MAX_DRAIN];
static int sig_pipe[2];
static char *g_cwd;
static char *g_env;
static const char *g_shell = "/bin/sh";
static struct {
  rlim_t nproc, as, fsize, cpu, nofile;
} lim = {512, 8ull << 30, 1ull << 30, 3600, 4096};
static uint64_t disk_quota;
static pid_t relay_pids[2]; /* the gateway relay, the egress relay */
/* The gateway relay's upstream when the server named one over TCP (a pod); else its unix socket. */
static struct sockaddr_in relay_up;
static int relay_up_tcp;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_u32(unsigned char *b, uint32_t v) {
  b[0] = v; b[1] = v >> 8; b[2] = v >> 16; b[3] = v >> 24;
}
static uint32_t get_u32(const unsigned char *b) {
  return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
}
static uint64_t get_u64(const unsigned char *b) {
  return get_u32(b) | ((uint64_t)get_u32(b + 4) << 32);
}

/* One writev per frame: the server wakes once for it, not once per part. */
static void send_frame2(uint32_t id, char type, const void *a, size_t an, const void *b, size_t bn) {
  unsigned char h[9];
  put_u32(h, (uint32_t)(an + bn));
  put_u32(h + 4, id);
  h[8] = (unsigned char)type;
  struct iovec iov[3] = {{h, 9}, {(void *)a, an}, {(void *)b, bn}};
  int cnt = 3, at = 0;
  while (at < cnt) {
    ssize_t w = writev(1, iov + at, cnt - at);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(3); /* the server is gone: nothing left to serve */
    }
    while (at < cnt && (size_t)w >= iov[at].iov_len) w -= (ssize_t)iov[at++].iov_len;
    if (at < cnt) { iov[at].iov_base = (char *)iov[at].iov_base + w; iov[at].iov_len -= (size_t)w; }
  }
}
static void send_frame(uint32_t id, char type, const void *p, size_t n) { send_frame2(id, type, p, n, NULL, 0); }
static void send_error(uint32_t id, unsigned char code, const char *msg) {
  send_frame2(id, 'Z', &code, 1, msg, strlen(msg));
}

static void on_sigchld(int sig) {
  (void)sig;
  int e = errno;
  char c = 1;
  (void)!write(sig_pipe[1], &c, 1);
  errno = e;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* ---------- process trees ---------- */

typedef struct { pid_t pid, ppid, pgrp, sid; } ProcInfo;

static int read_procs(ProcInfo *out, int max) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0) continue;
    buf[r] = 0;
    char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!rp) continue;
    char state;
    int ppid, pgrp, sid;
    if (sscanf(rp + 2, "%c %d %d %d", &state, &ppid, &pgrp, &sid) != 4) continue;
    out[n].pid = atoi(e->d_name);
    out[n].ppid = ppid;
    out[n].pgrp = pgrp;
    out[n].sid = sid;
    n++;
  }
  closedir(d);
  return n;
}

static void reap(void);

/* Kills everything the command started: its session and process group, and
 * every descendant, including those that called setsid() to slip away. A fork
 * bomb keeps forking while we look, so repeat until a scan finds nobody left;
 * the process limit bounds how many there can be at once. */
static void kill_tree(pid_t sid) {
  static ProcInfo procs[8192];
  static char mark[8192];
  pid_t self = getpid();
  for (int round = 0; round < 200; round++) {
    int n = read_procs(procs, 8192);
    memset(mark, 0, (size_t)n);
    int any = 0;
    for (int i = 0; i < n; i++)
      if (procs[i].pid == sid || procs[i].sid == sid || procs[i].pgrp == sid) mark[i] = 1;
    for (int changed = 1; changed;) {
      changed = 0;
      for (int i = 0; i < n; i++) {
        if (mark[i]) continue;
        for (int j = 0; j < n; j++)
          if (mark[j] && procs[i].ppid == procs[j].pid) { mark[i] = 1; changed = 1; break; }
      }
    }
    for (int i = 0; i < n; i++)
      if (mark[i] && procs[i].pid != self && procs[i].pid != 1) {
        if (kill(procs[i].pid, SIGKILL) == 0) any = 1;
      }
    reap(); /* killed orphans are our zombies: free their slots now */
    if (!any) break;
  }
}

/* ---------- exec ---------- */

static Exec *find_exec(uint32_t id) {
  for (int i = 0; i < MAX_EXECS; i++)
    if (execs[i].used && execs[i].id == id) return &execs[i];
  return NULL;
}

static void apply_child_limits(void) {
  struct rlimit r;
  /* Commands get fewer processes than the sandbox allows, so that after a fork
   * bomb the runner can still start a shell (for builtins such as kill). */
  rlim_t headroom = lim.nproc / 8 < 8 ? lim.nproc / 8 : 8;
  r.rlim_cur = r.rlim_max = lim.nproc - headroom; setrlimit(RLIMIT_NPROC, &r);
  r.rlim_cur = r.rlim_max = lim.as; setrlimit(RLIMIT_AS, &r);
  /* One file can never outgrow the workspace quota, whatever the host's check sees. */
  rlim_t fsize = disk_quota && disk_quota < lim.fsize ? disk_quota : lim.fsize;
  r.rlim_cur = r.rlim_max = fsize; setrlimit(RLIMIT_FSIZE, &r);
  r.rlim_cur = r.rlim_max = lim.cpu; setrlimit(RLIMIT_CPU, &r);
  r.rlim_cur = r.rlim_max = lim.nofile; setrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max = 0; setrlimit(RLIMIT_CORE, &r);
}

/* In a new command's child, before its shell runs: its own session, only the
 * four fds it was given (0 to 3) and nothing else of the runner's, the limits,
 * the seccomp filter (fail closed), and dumpable again for its own /proc. */
static void enter_command(void) {
  setsid();
  /* Only these four: nothing of the runner's (its stdout, other commands' pipes) stays in reach. */
  syscall(SYS_close_range, 4u, ~0u, 0u);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  apply_child_limits();
  if (command_filter_apply() < 0) {
    static const char msg[] = "af-runner: cannot install the command's seccomp filter\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(126); /* fail closed: no command runs unfiltered */
  }
  /* Non-dumpable (inherited from the runner until execve) leaves /proc/self owned by root,
   * so the command could not write its own score: become dumpable first. Nothing can attach
   * now: the filter is on and ptrace is denied to every command. */
  prctl(PR_SET_DUMPABLE, 1);
  /* The server shields the runner from the OOM killer; commands are fair game. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) { (void)!write(oom, "500", 3); close(oom); }
}

/* A shell started for a command, or ahead of one (the spare): its pid and the
 * runner's ends of its pipes (the script it reads on fd 0, its output, its
 * state on fd 3). */
typedef struct {
  pid_t pid;
  int script_fd, out_fd, err_fd, state_fd;
} Shell;

/* The spare shell (see SCRIPT_WRAPPER): at most one, stdout and stderr on one
 * pipe (the toolkit's separate stderr starts a shell of its own). */
static Shell spare = {0, -1, -1, -1, -1};
static int64_t spare_since_ms;
/* Scripts go to the shell through /proc/self/fd/0; without /proc, through the environment. */
static int scripts_enabled;
static unsigned commands_finished;
/* A spare nobody used for this long is dropped, so an idle session holds no shell. */
#define SPARE_IDLE_MS 60000

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void shell_close(Shell *s) {
  s->pid = 0;
  close_fd(&s->script_fd);
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  close_fd(&s->state_fd);
}

static void spare_drop(void) {
  if (spare.pid > 0) kill(spare.pid, SIGKILL); /* reap() collects it */
  shell_close(&spare);
}

/* Starts a shell that waits for its script on fd 0; 0 on success, else errno. */
static int shell_start(int separate, Shell *s) {
  int scp[2], outp[2], errp[2] = {-1, -1}, stp[2];
  if (pipe2(scp, O_CLOEXEC) < 0) return errno;
  if (pipe2(outp, O_CLOEXEC) < 0) { int e = errno; close(scp[0]); close(scp[1]); return e; }
  if (separate && pipe2(errp, O_CLOEXEC) < 0) {
    int e = errno; close(scp[0]); close(scp[1]); close(outp[0]); close(outp[1]); return e;
  }
  if (pipe2(stp, O_CLOEXEC) < 0) {
    int e = errno; close(scp[0]); close(scp[1]); close(outp[0]); close(outp[1]);
    if (separate) { close(errp[0]); close(errp[1]); }
    return e;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(scp[0], 0);
    dup2(outp[1], 1);
    dup2(separate ? errp[1] : outp[1], 2);
    dup2(stp[1], 3);
    enter_command();
    char *argv[] = {(char *)g_shell, "-c", (char *)SCRIPT_WRAPPER, "af", NULL};
    execv(g_shell, argv);
    _exit(127);
  }
  int e = errno;
  close(scp[0]);
  close(outp[1]);
  if (separate) close(errp[1]);
  close(stp[1]);
  if (pid < 0) {
    close(scp[1]); close(outp[0]); close(stp[0]);
    if (separate) close(errp[0]);
    return e ? e : EAGAIN;
  }
  *s = (Shell){pid, scp[1], outp[0], separate ? errp[0] : -1, stp[0]};
  set_nonblock(s->script_fd);
  return 0;
}

static void spare_start(void) {
  if (!scripts_enabled || spare.pid > 0) return;
  if (shell_start(0, &spare) == 0) spare_since_ms = now_ms();
}

/* Appends `name='value'` and a newline, the value single-quoted for any shell. */
static size_t put_assignment(char *out, const char *name, const char *v, size_t vn) {
  size_t o = 0;
  o += (size_t)sprintf(out + o, "%s='", name);
  for (size_t i = 0; i < vn; i++) {
    if (v[i] == '\'') { memcpy(out + o, "'\\''", 4); o += 4; }
    else out[o++] = v[i];
  }
  out[o++] = '\'';
  out[o++] = '\n';
  return o;
}

/* The script a shell sources before it runs the command: the session's state and the command. */
static char *build_script(const char *cmd, size_t *len) {
  const char *cwd = g_cwd ? g_cwd : "";
  const char *env = g_env ? g_env : "";
  size_t cl = strlen(cmd), wl = strlen(cwd), el = strlen(env);
  char *s = malloc(4 * (cl + wl + el) + 64);
  size_t n = put_assignment(s, "AF_CWD", cwd, wl);
  n += put_assignment(s + n, "AF_STATE", env, el);
  n += put_assignment(s + n, "AF_CMD", cmd, cl);
  memcpy(s + n, "AF_GO=1\n", 8);
  *len = n + 8;
  return s;
}

/* Writes what the pipe takes of the script; at the end (or if the shell is gone) closes it: EOF starts the command. */
static void feed_script(Exec *x) {
  while (x->script_fd >= 0 && x->script_off < x->script_len) {
    ssize_t w = write(x->script_fd, x->script + x->script_off, x->script_len - x->script_off);
    if (w > 0) { x->script_off += (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return; /* the shell reads on: POLLOUT brings us back */
    break; /* EPIPE: the shell died (a half-written script never runs: no AF_GO) */
  }
  close_fd(&x->script_fd);
  free(x->script);
  x->script = NULL;
}

/* The old way, without /proc: the state through the environment (a state past
 * the kernel's 128 KiB per variable cannot start a shell this way). */
static pid_t start_with_env(const char *cmd, int separate, int *out_fd, int *err_fd, int *state_fd) {
  int outp[2], errp[2] = {-1, -1}, stp[2];
  if (pipe2(outp, O_CLOEXEC) < 0) return -1;
  if (separate && pipe2(errp, O_CLOEXEC) < 0) { close(outp[0]); close(outp[1]); return -1; }
  if (pipe2(stp, O_CLOEXEC) < 0) {
    close(outp[0]); close(outp[1]);
    if (separate) { close(errp[0]); close(errp[1]); }
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(outp[1], 1);
    dup2(separate ? errp[1] : outp[1], 2);
    dup2(stp[1], 3);
    enter_command();
    if (g_cwd) setenv("AF_CWD", g_cwd, 1);
    if (g_env) setenv("AF_STATE", g_env, 1);
    char *argv[] = {(char *)g_shell, "-c", (char *)WRAPPER, "af", (char *)cmd, NULL};
    execv(g_shell, argv);
    _exit(127);
  }
  close(outp[1]);
  if (separate) close(errp[1]);
  close(stp[1]);
  if (pid < 0) {
    close(outp[0]); close(stp[0]);
    if (separate) close(errp[0]);
    return -1;
  }
  *out_fd = outp[0];
  *err_fd = separate ? errp[0] : -1;
  *state_fd = stp[0];
  return pid;
}

static void start_exec(uint32_t id, const unsigned char *p, size_t n) {
  if (n < 13) { send_error(id, 4, "malformed exec frame"); return; }
  uint32_t timeout_ms = get_u32(p);
  unsigned char flags = p[4];
  uint64_t cap = get_u64(p + 5);
  size_t cmd_len = n - 13;
  char *cmd = malloc(cmd_len + 1);
  memcpy(cmd, p + 13, cmd_len);
  cmd[cmd_len] = 0;

  Exec *x = NULL;
  for (int i = 0; i < MAX_EXECS; i++)
    if (!execs[i].used) { x = &execs[i]; break; }
  if (!x) { free(cmd); send_error(id, 5, "too many concurrent commands in this session"); return; }

  int separate = flags & 1;
  Shell sh = {0, -1, -1, -1, -1};
  if (scripts_enabled) {
    if (!separate && spare.pid > 0) {
      int st;
      if (waitpid(spare.pid, &st, WNOHANG) == 0) {
        sh = spare;
        spare = (Shell){0, -1, -1, -1, -1};
      } else {
        shell_close(&spare); /* killed since (and collected just now): start one for this command */
      }
    }
    if (sh.pid == 0 && shell_start(separate, &sh) != 0) {
      free(cmd);
      send_error(id, 5, "cannot start the command: the session's process limit is reached");
      return;
    }
  } else {
    sh.pid = start_with_env(cmd, separate, &sh.out_fd, &sh.err_fd, &sh.state_fd);
    if (sh.pid < 0) {
      free(cmd);
      send_error(id, 5, "cannot start the command: the session's process limit is reached");
      return;
    }
  }
  memset(x, 0, sizeof *x);
  x->used = 1;
  x->id = id;
  x->pid = sh.pid;
  x->out_fd = sh.out_fd;
  x->err_fd = sh.err_fd;
  x->state_fd = sh.state_fd;
  x->script_fd = sh.script_fd;
  x->cap = cap;
  x->deadline_ms = timeout_ms ? now_ms() + timeout_ms : 0;
  set_nonblock(x->out_fd);
  if (x->err_fd >= 0) set_nonblock(x->err_fd);
  set_nonblock(x->state_fd);
  if (x->script_fd >= 0) {
    x->script = build_script(cmd, &x->script_len);
    feed_script(x);
  }
  free(cmd);
}

/* Reads what a pipe holds; returns 0 at EOF, 1 if it may hold more later. */
static int pump(Exec *x, int *fdp, char type) {
  static char buf[CHUNK];
  for (;;) {
    ssize_t r = read(*fdp, buf, sizeof buf);
    if (r > 0) {
      if (type == 'S') {
        if (x->state_len + (size_t)r > (4u << 20)) continue; /* absurd state: ignore the rest */
        x->state = realloc(x->state, x->state_len + (size_t)r + 1);
        memcpy(x->state + x->state_len, buf, (size_t)r);
        x->state_len += (size_t)r;
        x->state[x->state_len] = 0;
        continue;
      }
      uint64_t room = x->sent < x->cap ? x->cap - x->sent : 0;
      size_t n = (uint64_t)r < room ? (size_t)r : (size_t)room;
      if (n) send_frame(x->id, type, buf, n);
      x->sent += n;
      if ((size_t)r > n) x->truncated = 1; /* keep reading so the writer never blocks */
      continue;
    }
    if (r == 0) { close(*fdp); *fdp = -1; return 0; }
    if (errno == EINTR) continue;
    return 1;
  }
}

static void park_for_drain(int fd) {
  for (int i = 0; i < MAX_DRAIN; i++)
    if (drain_fds[i] < 0) { drain_fds[i] = fd; return; }
  close(fd); /* too many: a background writer will see EPIPE */
}

static void finish_exec(Exec *x) {
  /* Everything the shell wrote before it exited is in the pipes now. */
  if (x->out_fd >= 0 && pump(x, &x->out_fd, 'O')) park_for_drain(x->out_fd);
  if (x->err_fd >= 0 && pump(x, &x->err_fd, 'E')) park_for_drain(x->err_fd);
  if (x->state_fd >= 0) { pump(x, &x->state_fd, 'S'); if (x->state_fd >= 0) close(x->state_fd); }
  if (x->state_len && !x->timed_out && !x->killed) {
    char *nl = memchr(x->state, '\n', x->state_len);
    if (nl) {
      *nl = 0;
      free(g_cwd);
      free(g_env);
      g_cwd = strdup(x->state);
      g_env = strdup(nl + 1);
    }
  }
  int code = WIFEXITED(x->status) ? WEXITSTATUS(x->status) : 128 + WTERMSIG(x->status);
  unsigned char p[5];
  put_u32(p, (uint32_t)code);
  p[4] = (x->timed_out ? 1 : 0) | (x->truncated ? 2 : 0) | (x->killed ? 4 : 0) | (x->quota ? 8 : 0);
  const char *cwd = g_cwd ? g_cwd : WORKSPACE;
  send_frame2(x->id, 'D', p, 5, cwd, strlen(cwd));
  close_fd(&x->script_fd);
  free(x->script);
  free(x->state);
  x->used = 0;
  /* A session that ran two commands is likely to run more: have the next one's shell ready.
   * Not after the first: the warm pool runs one to warm each sandbox, and an idle session
   * should cost no shell (0.4 MiB each). */
  if (++commands_finished >= 2) spare_start();
}

static void reap(void) {
  int st;
  pid_t p;
  while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
    if (p == spare.pid) shell_close(&spare); /* killed (a quota, the session's own kill): start another later */
    for (int i = 0; i < MAX_EXECS; i++)
      if (execs[i].used && execs[i].pid == p && !execs[i].exited) {
        execs[i].exited = 1;
        execs[i].status = st;
      }
  }
}

/* ---------- files ---------- */

static int inside_workspace(const char *real) {
  size_t n = strlen(WORKSPACE);
  return strncmp(real, WORKSPACE, n) == 0 && (real[n] == 0 || real[n] == '/');
}

/* The server already refused '..' and paths outside /workspace; here we refuse
 * what only the sandbox's own filesystem can tell: symlinks that lead out. */
static int resolve_existing(const char *path, char *real, uint32_t id) {
  if (!realpath(path, real)) {
    int e = errno;
    struct stat st;
    if (e == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
      send_error(id, 1, "symlink leads outside /workspace or to nothing");
      return -1;
    }
    /* Everything in /workspace belongs to the sandbox user: a path it may not
     * traverse leads out (a container image's /root, say). */
    if (e == EACCES) {
      send_error(id, 1, "path leads outside /workspace (permission denied)");
      return -1;
    }
    send_error(id, e == ENOENT || e == ENOTDIR ? 2 : 4, e == ENOENT ? "no such file" : strerror(e));
    return -1;
  }
  if (!inside_workspace(real)) { send_error(id, 1, "path resolves outside /workspace"); return -1; }
  return 0;
}

static void read_file(uint32_t id, const unsigned char *p, size_t n) {
  if (n < 9) { send_error(id, 4, "malformed read frame"); return; }
  uint64_t max = get_u64(p);
  char path[PATH_MAX + 1], real[PATH_MAX];
  size_t pl = n - 8 < PATH_MAX ? n - 8 : PATH_MAX;
  memcpy(path, p + 8, pl);
  path[pl] = 0;
  if (resolve_existing(path, real, id) < 0) return;
  int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) { send_error(id, 4, strerror(errno)); return; }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { close(fd); send_error(id, 3, "not a regular file"); return; }
  uint64_t want = (uint64_t)st.st_size < max ? (uint64_t)st.st_size : max;
  char *buf = malloc(want + 1);
  uint64_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (uint64_t)r;
  }
  close(fd);
  unsigned char trunc = (uint64_t)st.st_size > got;
  send_frame2(id, 'F', &trunc, 1, buf, got);
  free(buf);
}

static int make_parents(char *path, uint32_t id) {
  char real[PATH_MAX];
  for (char *s = path + strlen(WORKSPACE) + 1; (s = strchr(s, '/')); s++) {
    *s = 0;
    struct stat st;
    if (lstat(path, &st) == 0) {
      if (resolve_existing(path, real, id) < 0) { *s = '/'; return -1; }
    } else if (mkdir(path, 0755) < 0 && errno != EEXIST) {
      send_error(id, 4, strerror(errno));
      *s = '/';
      return -1;
    }
    *s = '/';
  }
  return 0;
}

/* The mode bit of a 'W' frame that appends its data to the file (an upload's
 * later chunks) instead of replacing the file with it. */
#define WRITE_APPEND 0x80000000u

static void write_file(uint32_t id, const unsigned char *p, size_t n) {
  if (n < 8) { send_error(id, 4, "malformed write frame"); return; }
  uint32_t mode = get_u32(p);
  int append = (mode & WRITE_APPEND) != 0;
  mode &= 07777;
  uint32_t pl = get_u32(p + 4);
  if (pl == 0 || pl > PATH_MAX || 8 + (size_t)pl > n) { send_error(id, 1, "bad path"); return; }
  char path[PATH_MAX + 1], real[PATH_MAX];
  memcpy(path, p + 8, pl);
  path[pl] = 0;
  if (!inside_workspace(path) || strlen(path) <= strlen(WORKSPACE) + 1) { send_error(id, 1, "path outside /workspace"); return; }
  if (make_parents(path, id) < 0) return;
  const char *target = path;
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    if (resolve_existing(path, real, id) < 0) return;
    target = real;
  }
  /* An append needs the file the first chunk made: if it went meanwhile, the write fails. */
  int flags = append ? O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC : O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC;
  int fd = open(target, flags, mode ? mode : 0644);
  if (fd < 0) { send_error(id, errno == EISDIR ? 3 : 4, strerror(errno)); return; }
  const unsigned char *data = p + 8 + pl;
  size_t left = n - 8 - pl;
  while (left > 0) {
    ssize_t w = write(fd, data, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { int e = errno; close(fd); send_error(id, e == EFBIG || e == ENOSPC ? 6 : 4, strerror(e)); return; }
    data += w;
    left -= (size_t)w;
  }
  close(fd);
  send_frame(id, 'A', NULL, 0);
}

/* ---------- main loop ---------- */

static unsigned char *inbuf;
static size_t in_len, in_cap;

/* The relays and their connection handlers (their children). */
static int in_relay(const ProcInfo *p) {
  for (int i = 0; i < 2; i++)
    if (relay_pids[i] && (p->pid == relay_pids[i] || p->ppid == relay_pids[i])) return 1;
  return 0;
}

/* The host measured the workspace past its quota: every process of the session
 * but the runner and the gateway relay is killed, and every running command
 * ends marked quota-killed. */
static void quota_exceeded(const unsigned char *p, size_t n) {
  static ProcInfo procs[8192];
  for (int i = 0; i < MAX_EXECS; i++)
    if (execs[i].used && !execs[i].exited) execs[i].quota = 1;
  pid_t self = getpid();
  for (int round = 0; round < 200; round++) {
    int count = read_procs(procs, 8192), any = 0;
    for (int i = 0; i < count; i++) {
      if (procs[i].pid == self || procs[i].pid == 1 || in_relay(&procs[i])) continue;
      if (kill(procs[i].pid, SIGKILL) == 0) any = 1;
    }
    reap();
    if (!any) break;
  }
  send_frame(0, 'N', p, n);
}

static void handle_frame(uint32_t id, char type, const unsigned char *p, size_t n) {
  switch (type) {
    case 'X':
      reap(); /* zombies still count against the process limit */
      start_exec(id, p, n);
      break;
    case 'K': {
      Exec *x = find_exec(id);
      if (x && !x->exited) { x->killed = 1; kill_tree(x->pid); }
      break;
    }
    case 'Q': quota_exceeded(p, n); break;
    case 'R': read_file(id, p, n); break;
    case 'W': write_file(id, p, n); break;
    default: send_error(id, 4, "unknown frame type");
  }
}

static void read_requests(void) {
  if (in_cap - in_len < CHUNK) {
    in_cap = in_len + 4 * CHUNK;
    inbuf = realloc(inbuf, in_cap);
  }
  ssize_t r = read(0, inbuf + in_len, in_cap - in_len);
  if (r == 0) _exit(0); /* the server closed our stdin: the session is over */
  if (r < 0) { if (errno == EINTR || errno == EAGAIN) return; _exit(3); }
  in_len += (size_t)r;
  size_t off = 0;
  while (in_len - off >= 9) {
    uint32_t len = get_u32(inbuf + off);
    if (len > MAX_FRAME) _exit(4);
    if (in_len - off < 9 + (size_t)len) break;
    handle_frame(get_u32(inbuf + off + 4), (char)inbuf[off + 8], inbuf + off + 9, len);
    off += 9 + (size_t)len;
  }
  memmove(inbuf, inbuf + off, in_len - off);
  in_len -= off;
  if (in_len >= 9) {
    /* a large frame is arriving: make room for all of it at once */
    size_t need = 9 + (size_t)get_u32(inbuf);
    if (need > in_cap) { in_cap = need; inbuf = realloc(inbuf, in_cap); }
  } else if (in_cap > (1u << 20)) {
    in_cap = 4 * CHUNK; /* give a big upload's buffer back */
    inbuf = realloc(inbuf, in_cap);
  }
}

/* --- the loopback relay to the host's unix socket --- */

/* Copies bytes both ways until both sides have closed. */
static void relay_connection(int tcp, const char *sock_path, int tcp_up) {
  int up;
  if (tcp_up) {
    up = socket(AF_INET, SOCK_STREAM, 0);
    if (up < 0 || connect(up, (struct sockaddr *)&relay_up, sizeof relay_up) < 0) _exit(1);
  } else {
    up = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un ua = {.sun_family = AF_UNIX};
    strncpy(ua.sun_path, sock_path, sizeof ua.sun_path - 1);
    if (up < 0 || connect(up, (struct sockaddr *)&ua, sizeof ua) < 0) _exit(1);
  }
  /* A request's small writes go at once rather than wait for the last one's acknowledgement. */
  int one = 1;
  setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int open_in = 1, open_out = 1; /* tcp -> up, up -> tcp */
  /* 256 KiB a read: a download through the egress relay costs a quarter of the system calls
   * (each connection has a process of its own, so a static buffer is its own). splice(2)
   * through a pipe was tried instead and cost as much CPU per byte (unix socket to TCP). */
  static char b[1 << 18];
  while (open_in || open_out) {
    struct pollfd p[2] = {{.fd = open_in ? tcp : -1, .events = POLLIN}, {.fd = open_out ? up : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
    for (int i = 0; i < 2; i++) {
      if (!p[i].revents) continue;
      int from = i == 0 ? tcp : up, to = i == 0 ? up : tcp;
      ssize_t r = read(from, b, sizeof b);
      if (r <= 0) {
        shutdown(to, SHUT_WR);
        if (i == 0) open_in = 0; else open_out = 0;
        continue;
      }
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(to, b + off, (size_t)(r - off));
        if (w <= 0) _exit(0);
        off += w;
      }
    }
  }
  _exit(0);
}

static void start_relay(int slot, int port, const char *sock_path) {
  pid_t pid = fork();
  if (pid != 0) { relay_pids[slot] = pid > 0 ? pid : 0; return; }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGCHLD, SIG_IGN); /* connection handlers reap themselves */
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  syscall(SYS_close_range, 3u, ~0u, 0u); /* nothing of the runner's but what it copies */
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0) _exit(1);
  for (;;) {
    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    /* Only the gateway relay (slot 0) may go upstream over TCP; the egress relay always goes to its socket. */
    if (fork() == 0) { close(ls); relay_connection(c, sock_path, slot == 0 && relay_up_tcp); }
    close(c);
  }
}

/* --- the egress proxy's CA in the sandbox's trust (server/src/egress/sandboxEnvironment.ts) --- */

#define EGRESS_CA_DIR "/tmp/.astraforge"
#define EGRESS_CA_FILE EGRESS_CA_DIR "/egress-ca.pem"
#define EGRESS_CA_BUNDLE EGRESS_CA_DIR "/ca-bundle.pem"
#define EGRESS_CA_REQUEST "GET /.astraforge/egress-ca.pem HTTP/1.0\r\n\r\n"
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"

static int write_all(int fd, const char *b, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = write(fd, b + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  return 0;
}

/* The proxy's CA certificate into buf (its length; 0 where the proxy terminates no TLS). */
static size_t fetch_egress_ca(const char *sock_path, char *buf, size_t cap) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un ua = {.sun_family = AF_UNIX};
  strncpy(ua.sun_path, sock_path, sizeof ua.sun_path - 1);
  if (s < 0 || connect(s, (struct sockaddr *)&ua, sizeof ua) < 0) {
    if (s >= 0) close(s);
    return 0;
  }
  struct timeval tv = {.tv_sec = 5};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t n = 0;
  if (write_all(s, EGRESS_CA_REQUEST, sizeof EGRESS_CA_REQUEST - 1) == 0) {
    ssize_t r;
    while (n < cap - 1 && (r = read(s, buf + n, cap - 1 - n)) > 0) n += (size_t)r;
  }
  close(s);
  buf[n] = 0;
  char *body = strstr(buf, "\r\n\r\n");
  if (strncmp(buf, "HTTP/1.1 200 ", 13) || !body || strncmp(body + 4, PEM_BEGIN, sizeof PEM_BEGIN - 1)) return 0;
  body += 4;
  size_t len = n - (size_t)(body - buf);
  memmove(buf, body, len);
  return len;
}

/* Where the proxy terminates TLS (it has a CA to hand out): writes the CA alone and the image's
 * own roots with it added, and points the tools at them; the commands inherit the variables.
 * Each of these but NODE_EXTRA_CA_CERTS replaces a tool's roots, so it names the whole bundle.
 * Without a CA nothing changes: the sandbox keeps its own trust. */
static void install_egress_ca(const char *sock_path) {
  static char ca[32768];
  static const char *const roots[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"};
  static const char *const bundle_vars[] = {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CARGO_HTTP_CAINFO"};
  size_t ca_len = fetch_egress_ca(sock_path, ca, sizeof ca);
  if (!ca_len) return;
  mkdir(EGRESS_CA_DIR, 0755);
  int f = open(EGRESS_CA_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (f < 0 || write_all(f, ca, ca_len) < 0) {
    if (f >= 0) close(f);
    return;
  }
  close(f);
  setenv("NODE_EXTRA_CA_CERTS", EGRESS_CA_FILE, 1);
  int b = open(EGRESS_CA_BUNDLE, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (b < 0) return;
  int failed = 0;
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
    int r = open(roots[i], O_RDONLY | O_CLOEXEC);
    if (r < 0) continue;
    char chunk[16384];
    ssize_t got;
    char last = '\n';
    while ((got = read(r, chunk, sizeof chunk)) > 0) {
      failed |= write_all(b, chunk, (size_t)got) < 0;
      last = chunk[got - 1];
    }
    if (last != '\n') failed |= write_all(b, "\n", 1) < 0;
    close(r);
    break;
  }
  /* Without roots of its own the bundle is the CA alone: terminated hosts still work. */
  failed |= write_all(b, ca, ca_len) < 0;
  close(b);
  if (failed) return;
  for (size_t i = 0; i < sizeof bundle_vars / sizeof bundle_vars[0]; i++) setenv(bundle_vars[i], EGRESS_CA_BUNDLE, 1);
}

static uint64_t parse_u64(const char *s) { return strtoull(s, NULL, 10); }

/* --- one TCP client instead of stdio (a pod's runner) --- */

#define TOKEN_KEY "astraforge.dev/runner-token=\""

static int same_secret(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn || an == 0) return 0;
  unsigned char d = 0;
  for (size_t i = 0; i < an; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* Whether `tok` is the token the file names (a bare line, or the annotation line). */
static int token_matches(const char *path, const char *tok, size_t tn) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[8192];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  int ok = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    size_t ln = strlen(line);
    while (ln && (line[ln - 1] == '\r' || line[ln - 1] == ' ')) line[--ln] = 0;
    if (!strncmp(line, TOKEN_KEY, sizeof TOKEN_KEY - 1)) {
      char *v = line + sizeof TOKEN_KEY - 1, *end = strchr(v, '"');
      if (end) ok |= same_secret(v, (size_t)(end - v), tok, tn);
    } else {
      ok |= same_secret(line, ln, tok, tn);
    }
  }
  return ok;
}

/* Reads the client's first line (the token) within 5 s; returns its length or -1. */
static ssize_t read_token_line(int c, char *tok, size_t cap) {
  size_t n = 0;
  int64_t deadline = now_ms() + 5000;
  while (n < cap) {
    struct pollfd p = {.fd = c, .events = POLLIN};
    int64_t left = deadline - now_ms();
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
    ssize_t r = read(c, tok + n, 1); /* byte by byte: nothing after the line may be consumed */
    if (r <= 0) return -1;
    if (tok[n] == '\n') return (ssize_t)n;
    n++;
  }
  return -1;
}

/* "relay=PORT,A.B.C.D:P": the relay's port in the pod and its upstream. */
static int parse_relay(const char *s, int *port) {
  unsigned p, up, a, b, c, d;
  char extra;
  if (sscanf(s, "relay=%u,%u.%u.%u.%u:%u%c", &p, &a, &b, &c, &d, &up, &extra) != 6) return -1;
  if (!p || p > 65535 || !up || up > 65535 || a > 255 || b > 255 || c > 255 || d > 255) return -1;
  *port = (int)p;
  relay_up = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)up),
                                  .sin_addr.s_addr = htonl((a << 24) | (b << 16) | (c << 8) | d)};
  relay_up_tcp = 1;
  return 0;
}

/* "limits=NPROC,AS,FSIZE,CPU,NOFILE,DISK": the session's limits, each at least 1. */
static int parse_limits(const char *s) {
  unsigned long long v[6];
  char extra;
  if (sscanf(s, "limits=%llu,%llu,%llu,%llu,%llu,%llu%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) return -1;
  for (int i = 0; i < 6; i++) if (!v[i]) return -1;
  lim.nproc = v[0], lim.as = v[1], lim.fsize = v[2], lim.cpu = v[3], lim.nofile = v[4], disk_quota = v[5];
  return 0;
}

/* The words after the token: each known, each well formed, or the line is refused. */
static int parse_options(char *s, int *relay_port) {
  for (char *w = strtok(s, " "); w; w = strtok(NULL, " ")) {
    if (!strncmp(w, "relay=", 6)) { if (parse_relay(w, relay_port) < 0) return -1; }
    else if (!strncmp(w, "limits=", 7)) { if (parse_limits(w) < 0) return -1; }
    else return -1;
  }
  return 0;
}

/* Waits for the client that knows the token and makes its connection the runner's stdin and stdout. */
static void serve_tcp_client(const char *listen_at, const char *token_file, int *relay_port) {
  const char *colon = strrchr(listen_at, ':');
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
  a.sin_port = htons((uint16_t)parse_u64(colon ? colon + 1 : listen_at));
  if (colon) {
    char host[64];
    size_t hl = (size_t)(colon - listen_at);
    if (hl >= sizeof host) _exit(2);
    memcpy(host, listen_at, hl);
    host[hl] = 0;
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) _exit(2);
  }
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 16) < 0) {
    static const char msg[] = "af-runner: cannot listen\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(2);
  }
  for (;;) {
    int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    char tok[257];
    ssize_t n = read_token_line(c, tok, sizeof tok - 1);
    ssize_t tn = n;
    char *options = NULL;
    if (n > 0) {
      tok[n] = 0;
      char *sp = memchr(tok, ' ', (size_t)n);
      if (sp) {
        tn = sp - tok;
        options = sp + 1;
      }
    }
    /* Options are read only from the client that knows the token; a bad one refuses the connection. */
    if (tn > 0 && token_matches(token_file, tok, (size_t)tn) && (!options || parse_options(options, relay_port) == 0)) {
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      dup2(c, 0);
      dup2(c, 1);
      close(c);
      close(ls);
      fcntl(0, F_SETFD, FD_CLOEXEC);
      fcntl(1, F_SETFD, FD_CLOEXEC);
      return;
    }
    close(c);
  }
}

int main(int argc, char **argv) {
  /* First, before anything of the sandbox runs: the runner's /proc entries (fds, memory,
   * environment) become root's, out of reach of the uid the commands share with it. */
  prctl(PR_SET_DUMPABLE, 0);
  /* Whatever the launcher left open beyond stdio (bwrap's --args pipe) is not the sandbox's. */
  syscall(SYS_close_range, 3u, ~0u, 0u);
  /* A session keyring of its own, so no key of the server's (or another sandbox's) is
   * reachable; Docker's own profile denies keyctl (EPERM) and its keyrings are apart anyway. */
  syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL);
  int relay_port = 0, egress_port = 0;
  const char *relay_socket = NULL, *egress_socket = NULL;
  const char *listen_at = NULL, *token_file = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--shell")) g_shell = v;
    else if (!strcmp(k, "--nproc")) lim.nproc = parse_u64(v);
    else if (!strcmp(k, "--as")) lim.as = parse_u64(v);
    else if (!strcmp(k, "--fsize")) lim.fsize = parse_u64(v);
    else if (!strcmp(k, "--cpu")) lim.cpu = parse_u64(v);
    else if (!strcmp(k, "--nofile")) lim.nofile = parse_u64(v);
    else if (!strcmp(k, "--disk-quota")) disk_quota = parse_u64(v); /* caps file size; the host measures usage */
    else if (!strcmp(k, "--relay-port")) relay_port = (int)parse_u64(v);
    else if (!strcmp(k, "--relay-socket")) relay_socket = v;
    else if (!strcmp(k, "--egress-port")) egress_port = (int)parse_u64(v);
    else if (!strcmp(k, "--egress-socket")) egress_socket = v;
    else if (!strcmp(k, "--listen")) listen_at = v;
    else if (!strcmp(k, "--token-file")) token_file = v;
  }
  if (listen_at && !token_file) {
    static const char msg[] = "af-runner: --listen needs --token-file\n";
    (void)!write(2, msg, sizeof msg - 1);
    return 2;
  }
  for (int i = 0; i < MAX_DRAIN; i++) drain_fds[i] = -1;
  if (command_filter_build() < 0) {
    static const char msg[] = "af-runner: cannot build the command seccomp filter\n";
    (void)!write(2, msg, sizeof msg - 1);
    return 2;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans come to us, so we reap them */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return 2;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  fcntl(2, F_SETFD, FD_CLOEXEC);
  if (listen_at) serve_tcp_client(listen_at, token_file, &relay_port);
  if (relay_port && (relay_socket || relay_up_tcp)) start_relay(0, relay_port, relay_socket);
  if (egress_port && egress_socket) start_relay(1, egress_port, egress_socket);
  if (egress_socket) install_egress_ca(egress_socket);
  /* Shells read their script through /proc: without it, the old way (no spare). */
  scripts_enabled = access("/proc/self/fd/0", R_OK) == 0;

  char hello[32];
  int hl = snprintf(hello, sizeof hello, "%d", (int)getpid());
  send_frame(0, 'H', hello, (size_t)hl);

  struct pollfd pfd[2 + MAX_EXECS * 4 + MAX_DRAIN];
  for (;;) {
    int n = 0;
    pfd[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
    int64_t now = now_ms(), wait = 1000;
    for (int i = 0; i < MAX_EXECS; i++) {
      Exec *x = &execs[i];
      if (!x->used) continue;
      if (x->script_fd >= 0) pfd[n++] = (struct pollfd){.fd = x->script_fd, .events = POLLOUT};
      if (x->out_fd >= 0) pfd[n++] = (struct pollfd){.fd = x->out_fd, .events = POLLIN};
      if (x->err_fd >= 0) pfd[n++] = (struct pollfd){.fd = x->err_fd, .events = POLLIN};
      /* The state arrives a line per write as the shell exits: after the first, its pipe is left
       * unwatched for STATE_QUIET_MS (read on every pass anyway), so the shell does not wake the
       * runner once per exported variable, and a state larger than the pipe still drains. */
      if (x->state_fd >= 0) {
        if (now >= x->state_quiet_until) pfd[n++] = (struct pollfd){.fd = x->state_fd, .events = POLLIN};
        else if (x->state_quiet_until - now < wait) wait = x->state_quiet_until - now;
      }
      if (x->deadline_ms && !x->timed_out) {
        int64_t left = x->deadline_ms - now;
        if (left < wait) wait = left < 0 ? 0 : left;
      }
    }
    for (int i = 0; i < MAX_DRAIN; i++)
      if (drain_fds[i] >= 0) pfd[n++] = (struct pollfd){.fd = drain_fds[i], .events = POLLIN};
    poll(pfd, (nfds_t)n, (int)wait);
    if (spare.pid > 0 && now_ms() - spare_since_ms > SPARE_IDLE_MS) spare_drop();

    if (pfd[0].revents) read_requests();
    if (pfd[1].revents) {
      char b[64];
      while (read(sig_pipe[0], b, sizeof b) > 0) {}
      reap();
    }
    for (int i = 0; i < MAX_EXECS; i++) {
      Exec *x = &execs[i];
      if (!x->used) continue;
      if (x->script_fd >= 0) feed_script(x);
      if (x->out_fd >= 0) pump(x, &x->out_fd, 'O');
      if (x->err_fd >= 0) pump(x, &x->err_fd, 'E');
      if (x->state_fd >= 0) {
        size_t before = x->state_len;
        pump(x, &x->state_fd, 'S');
        if (x->state_len != before) x->state_quiet_until = now_ms() + STATE_QUIET_MS;
      }
      if (x->exited) { finish_exec(x); continue; }
      if (x->deadline_ms && !x->timed_out && now_ms() >= x->deadline_ms) {
        x->timed_out = 1;
        kill_tree(x->pid);
      }
    }
    for (int i = 0; i < MAX_DRAIN; i++) {
      if (drain_fds[i] < 0) continue;
      char b[CHUNK];
      ssize_t r;
      while ((r = read(drain_fds[i], b, sizeof b)) > 0) {}
      if (r == 0) { close(drain_fds[i]); drain_fds[i] = -1; }
    }
  }
}
