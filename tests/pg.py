"""A real PostgreSQL for the tests: a testcontainers container where a Docker
engine answers, otherwise a throwaway cluster from the installed binaries."""
import contextlib
import glob
import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile

from cli.dev import free_port


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means no engine
        return False


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def container():
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver="psycopg") as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def local_cluster():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    root = pathlib.Path(tempfile.mkdtemp(prefix="cerver-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # The server refuses to run as root: hand the cluster to `postgres`.
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
                        "start"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def postgres():
    return container() if docker_available() else local_cluster()
