"""Workspaces: the one writable place of a sandbox that persists.

Isolated, each is a sparse, journal-less ext4 image loop-mounted
nosuid,nodev: a hard quota (these kernels have no project quotas), and no
setuid file planted in it runs with privileges anywhere. Its root belongs to
the workspace's own uid. Ids are checked against one pattern and resolved
under the root; nothing is ever mounted or deleted outside it."""
import asyncio
import contextlib
import os
import pathlib
import re
import shutil
import subprocess

from services.compute.isolation.identities import Identities

WORKSPACE_ID = re.compile(r"ws_[0-9a-f]{16}")
IMAGE, OWNER = "disk.img", "uid"


class WorkspaceError(RuntimeError):
    pass


def new_id() -> str:
    return "ws_" + os.urandom(8).hex()


def checked(root: pathlib.Path, workspace_id: str) -> pathlib.Path:
    """The folder of a workspace id, or ValueError for anything that is not
    exactly an id of ours (`../..`, slashes, NUL, another shape)."""
    if not isinstance(workspace_id, str) or not WORKSPACE_ID.fullmatch(workspace_id):
        raise ValueError(f"not a workspace id: {workspace_id[:40]!r}")
    path = (root / workspace_id).resolve()
    if path.parent != root.resolve():
        raise ValueError(f"workspace {workspace_id} resolves outside its root")
    return path


async def _exec(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise WorkspaceError(f"{argv[0]} failed: {err.decode(errors='replace').strip()[:300]}")


class Workspaces:
    def __init__(self, root: pathlib.Path, identities: Identities | None, mounts: pathlib.Path | None = None):
        """Images under root (0700); each mounted at mounts/<id> (mounts is
        0711: the sandbox's uid crosses it to bind its own workspace).
        identities=None: unisolated, plain folders owned by this user."""
        self.root = root
        self.identities = identities
        self.mounts = mounts or root / "mnt"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        if identities is not None:
            self.mounts.mkdir(parents=True, exist_ok=True)
            os.chmod(self.mounts, 0o711)

    @property
    def images(self) -> bool:
        return self.identities is not None

    def start(self) -> None:
        """Claim the uids of kept workspaces; unmount what an earlier run of
        this process left mounted (its sandboxes are gone)."""
        if not self.images:
            return
        for mounted in _mounts_under(self.mounts):
            subprocess.run(["umount", "-l", mounted], check=False, capture_output=True)
        self.tidy()
        for path in sorted(self.root.iterdir()):
            if not WORKSPACE_ID.fullmatch(path.name):
                continue
            try:
                self.identities.claim(int((path / OWNER).read_text()))
            except (OSError, ValueError):
                shutil.rmtree(path, ignore_errors=True)  # a half-made workspace

    def tidy(self) -> None:
        """Remove mount points that nothing is mounted on (rmdir: only empty ones)."""
        if self.images and self.mounts.is_dir():
            for folder in self.mounts.iterdir():
                if not os.path.ismount(folder):
                    with contextlib.suppress(OSError):
                        folder.rmdir()

    def mountpoint(self, workspace_id: str) -> pathlib.Path:
        path = checked(self.root, workspace_id)
        return self.mounts / path.name if self.images else path

    def uid(self, workspace_id: str) -> int:
        return int((checked(self.root, workspace_id) / OWNER).read_text()) if self.images else os.getuid()

    async def create(self, workspace_id: str, disk_mb: int) -> tuple[pathlib.Path, int]:
        path = checked(self.root, workspace_id)
        if not self.images:
            path.mkdir(exist_ok=True)
            return path, os.getuid()
        path.mkdir(mode=0o700)
        uid = self.identities.allocate()
        try:
            image = path / IMAGE
            with open(image, "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.truncate(disk_mb << 20)
            # No reserved blocks, no journal, inode tables initialised lazily:
            # ~10 ms for a sparse image of any size.
            await _exec("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                        "-E", f"nodiscard,lazy_itable_init=1,root_owner={uid}:{uid}", str(image))
            (path / OWNER).write_text(str(uid))
            mnt, _ = await self.attach(workspace_id)
            (mnt / "lost+found").rmdir()
        except BaseException:
            await self._remove(path)
            self.identities.release(uid)
            raise
        return mnt, uid

    async def attach(self, workspace_id: str) -> tuple[pathlib.Path, int]:
        """Mount a kept workspace (again)."""
        path = checked(self.root, workspace_id)
        if not self.images:
            if not path.is_dir():
                raise WorkspaceError(f"workspace {workspace_id} does not exist")
            return path, os.getuid()
        if not (path / IMAGE).is_file():
            raise WorkspaceError(f"workspace {workspace_id} does not exist")
        mnt = self.mountpoint(workspace_id)
        mnt.mkdir(mode=0o700, exist_ok=True)
        if not os.path.ismount(mnt):
            await _exec("mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noatime", str(path / IMAGE), str(mnt))
        os.chmod(mnt, 0o700)  # its root is the workspace uid's alone
        return mnt, self.uid(workspace_id)

    async def detach(self, workspace_id: str) -> None:
        mnt = self.mountpoint(workspace_id)
        if self.images and os.path.ismount(mnt):
            await _exec("umount", "-l", str(mnt))
            mnt.rmdir()

    async def delete(self, workspace_id: str) -> None:
        path = checked(self.root, workspace_id)
        uid = None
        if self.images:
            try:
                uid = self.uid(workspace_id)
            except (OSError, ValueError):
                pass
        await self._remove(path)
        if uid is not None:
            self.identities.release(uid)

    async def _remove(self, path: pathlib.Path) -> None:
        # Never rmtree through a mounted workspace: unmount it first, then
        # only files this class made are left.
        if self.images:
            mnt = self.mounts / path.name
            if os.path.ismount(mnt):
                await _exec("umount", "-l", str(mnt))
            for name in (IMAGE, OWNER):
                (path / name).unlink(missing_ok=True)
            for folder in (mnt, path):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
        else:
            await asyncio.to_thread(shutil.rmtree, path, True)


def _mounts_under(root: pathlib.Path) -> set[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        return {fields[4] for line in f if (fields := line.split())[4].startswith(prefix)}
