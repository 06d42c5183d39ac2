/*
 * The seccomp filter af-runner puts on every command before it runs it.
 *
 * A command runs as the same uid as the runner, so only the kernel can keep
 * it away from the runner: no debugging or memory access to other processes
 * (which is how a command could forge the runner's frames), no kernel
 * keyrings, no new namespaces or mounts, and none of the kernel interfaces a
 * sandbox has no use for and that carry most kernel exploits (bpf, perf,
 * userfaultfd, io_uring). Docker's default profile is the anchor: what it
 * denies a container without capabilities, this denies a command.
 *
 * The filter allows by default and denies a list, so toolchains keep working;
 * calls with a fallback (clone3, io_uring, pidfd) answer ENOSYS, so glibc,
 * libuv and Go take their older paths. Syscalls of another ABI (i386 through
 * int 0x80, x32) kill the process: the lists below name x86-64 calls only.
 *
 * Built once at start-up (libseccomp, linked statically) into plain BPF, so a
 * forked child only has to hand the kernel a ready program.
 */
#define _GNU_SOURCE
#include "command-filter.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AF_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AF_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "af-runner's command filter knows x86-64 and aarch64"
#endif

/* EPERM: what the kernel answers an unprivileged caller anyway. */
static const char *const DENIED[] = {
    /* Reaching another process of the same uid: the runner, its pipes, its memory. */
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "process_madvise",
    /* The kernel's keyrings: a session's keys must not be read or planted. */
    "keyctl", "add_key", "request_key",
    /* Kernel attack surface a sandbox has no use for. */
    "bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "fanotify_init", "syslog",
    /* Mounts, namespaces, root changes: the sandbox's view of the world is fixed. */
    "mount", "umount", "umount2", "mount_setattr", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "pivot_root", "chroot", "unshare", "setns",
    /* File handles bypass path permissions (CAP_DAC_READ_SEARCH in Docker's profile). */
    "open_by_handle_at", "name_to_handle_at",
    /* The machine itself. */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "settimeofday", "clock_settime",
    "sethostname", "setdomainname", "iopl", "ioperm", "vhangup",
    /* NUMA placement (CAP_SYS_NICE in Docker's profile). */
    "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node", "move_pages", "migrate_pages",
    /* Obsolete calls nothing current needs. */
    "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "get_kernel_syms", "query_module", "vm86",
    "vm86old",
};

/* ENOSYS: feature probes whose callers fall back to an older call. */
static const char *const ABSENT[] = {
    "clone3", /* glibc then uses clone, whose flags are checked below */
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "pidfd_open", "pidfd_getfd",
};

/* clone() flags that would make a new namespace. */
static const unsigned long NAMESPACE_FLAGS[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

static struct sock_fprog main_prog;

/*
 * personality() only with the values Docker allows (0, PER_LINUX32, UNAME26
 * and the query): ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC weaken exploits'
 * obstacles. libseccomp cannot say "none of these values" in one rule, so this
 * small program is written by hand and stacked on the main one.
 */
static struct sock_filter personality_insns[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_AUDIT_ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* the main filter kills other ABIs */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_personality, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + 4), /* high half (LE) */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0008, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20000, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x20008, 1, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
};
static const struct sock_fprog personality_prog = {
    .len = sizeof personality_insns / sizeof personality_insns[0],
    .filter = personality_insns,
};

static int deny_each(scmp_filter_ctx ctx, const char *const *names, size_t n, uint32_t action) {
  for (size_t i = 0; i < n; i++) {
    int nr = seccomp_syscall_resolve_name(names[i]);
    if (nr < 0) continue; /* not a call of this architecture */
    if (seccomp_rule_add(ctx, action, nr, 0) < 0) return -1;
  }
  return 0;
}

int command_filter_build(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return -1;
  int ok = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) == 0 &&
           seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) == 0 && /* the child sets it itself */
           deny_each(ctx, DENIED, sizeof DENIED / sizeof *DENIED, SCMP_ACT_ERRNO(EPERM)) == 0 &&
           deny_each(ctx, ABSENT, sizeof ABSENT / sizeof *ABSENT, SCMP_ACT_ERRNO(ENOSYS)) == 0 &&
           /* AF_VSOCK is not namespaced: it would reach the host's (or hypervisor's) vsock services. */
           seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, 40)) == 0;
  for (size_t i = 0; ok && i < sizeof NAMESPACE_FLAGS / sizeof *NAMESPACE_FLAGS; i++) {
    unsigned long f = NAMESPACE_FLAGS[i];
    ok = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)) == 0;
  }
  /* libseccomp 2.5 exports BPF only to a file descriptor: read it back from a memfd. */
  int fd = ok ? memfd_create("af-command-filter", MFD_CLOEXEC) : -1;
  ok = fd >= 0 && seccomp_export_bpf(ctx, fd) == 0;
  seccomp_release(ctx);
  off_t size = ok ? lseek(fd, 0, SEEK_END) : -1;
  if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  struct sock_filter *insns = malloc((size_t)size);
  ssize_t got = insns ? pread(fd, insns, (size_t)size, 0) : -1;
  close(fd);
  if (got != size) {
    free(insns);
    return -1;
  }
  main_prog.len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
  main_prog.filter = insns;
  return 0;
}

int command_filter_apply(void) {
  if (!main_prog.filter) return -1;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  /* The personality filter first: once the main one is on, seccomp() itself stays allowed anyway. */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &personality_prog) < 0) return -1;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &main_prog) < 0) return -1;
  return 0;
}
