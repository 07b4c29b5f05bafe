"""The seccomp filter every sandbox runs under, in the spirit of Docker's
default profile: what a sandbox has no business calling fails with EPERM
(new namespaces, mounts, keyrings, tracing other processes, kernel modules,
clocks, BPF, io_uring ...). Built with libseccomp, handed to bubblewrap as
BPF; calls of other architectures (x32, i386) are killed."""
import errno
import tempfile

DENIED = (
    # namespaces and mounts: no way out of the sandbox's own
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    # other processes' memory and the kernel's keyrings
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "keyctl", "add_key", "request_key",
    # the kernel itself
    "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "vhangup", "uselib", "fanotify_init",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # clocks
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
)
CLONE_NEWUSER = 0x10000000


def filter_bpf() -> bytes:
    import pyseccomp as sc  # ctypes over the host's libseccomp

    f = sc.SyscallFilter(sc.ALLOW)
    for name in DENIED:
        f.add_rule(sc.ERRNO(errno.EPERM), name)
    # No nested user namespace through clone either; clone3's flags sit in
    # memory a filter cannot read, so it answers ENOSYS and libc falls back
    # to clone.
    f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()
