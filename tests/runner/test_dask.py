"""``--executor dask``: the same batch on a two-worker Dask cluster on loopback.

``LocalCluster``s of two spawned worker processes (one thread each, 127.0.0.1 only) set up as
the executor's own. One serves the tests that do not crash workers on purpose; the tests that do
get one each, whose workers carry the test-only crash hook (``tests/hooks/sitecustomize.py`` with
``RAWCOMPLETE_TEST_CRASH``, as the local pool's crash test), so a file that segfaults its worker can sit among good and bad files.
Skipped when the ``dask`` extra is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: faults
from faults import CRASH_ENV, fault_env  # noqa: E402
from test_cli import _need_samples, write_inputs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TIMING_FIELDS = ("seconds", "worker_pid")  # differ between any two runs, whatever runs them

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def clean_env():
    """The environment before any cluster: the nanny writes its pre-spawn variables
    (OMP_NUM_THREADS=1, PYTHONHASHSEED, ...) into this process; they are put back afterwards."""
    before = dict(os.environ)
    yield before
    os.environ.clear()
    os.environ.update(before)


@contextlib.contextmanager
def start_cluster(*, crash: bool):
    """Two workers on 127.0.0.1, one thread each, as the executor's own LocalCluster is set up
    (a lost worker's file is not retried by the scheduler: the executor submits it once more).
    ``crash``: workers carry the test-only crash hook for inputs named ``crashme*``."""
    import dask
    from distributed import Client, LocalCluster

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    saved = dict(os.environ)
    if crash:  # the nannies spawn workers (and their replacements) with this process's environment
        os.environ.update(fault_env(crash="crashme*"))
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cl = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, memory_limit=0, env=env,
                          scheduler_kwargs={"allowed_failures": 0, "dashboard_address": "127.0.0.1:0"})
    client = Client(cl, set_as_default=False)
    try:
        yield cl, client
    finally:
        client.close()
        if crash:
            # A nanny whose fresh worker is killed while it starts may close itself; shutting
            # such a cluster down can complain about it. That is Dask's noise, not ours.
            with contextlib.suppress(Exception):
                cl.close()
        else:
            cl.close()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def cluster(clean_env):
    """The shared cluster of the tests that do not crash workers on purpose."""
    with start_cluster(crash=False) as (cl, client):
        yield cl, client
        settle(client)


def settle(client, n: int = 2) -> None:
    """Wait until the nannies have restarted the workers a test killed (so the next test, or the
    cluster's close, does not meet a worker half-way through its restart)."""
    client.wait_for_workers(n, timeout=120)


def run_cli(args, *, cwd, env, timeout=300) -> subprocess.CompletedProcess:
    env = {**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def comparable(report: dict) -> dict:
    """A report without what differs between any two runs (timings, pids, start time, argv) and
    the settings that only choose where files run (executor, jobs)."""
    out = {k: v for k, v in report.items() if k not in ("started", "seconds", "argv")}
    out["settings"] = {k: v for k, v in report["settings"].items() if k not in ("executor", "jobs")}
    out["records"] = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in report["records"]]
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory, samples_dir, clean_env):
    """One folder of good, bad and crashing files, run by ``--jobs 2`` and by the Dask cluster."""
    _need_samples(samples_dir)
    root = tmp_path_factory.mktemp("dask")
    inp = root / "local" / "in"
    bad = write_inputs(inp, samples_dir)
    shutil.copy(samples_dir / "wb_cast.dng", bad / "crashme.dng")
    shutil.copytree(inp, root / "dask" / "in")
    # The same relative command line in local/ and dask/: records and outputs must come out equal.
    # Relative paths on purpose: the Dask workers get absolute ones, the records must not show it.
    common = ["in", "-o", "out", "--method", "biharmonic", "--no-progress", "--report", "report.json"]
    local = run_cli([*common, "--jobs", "2"], cwd=root / "local", env={**clean_env, **fault_env(crash="crashme*", base=clean_env)})
    with start_cluster(crash=True) as (cl, _):
        dask = run_cli([*common, "--scheduler", cl.scheduler_address], cwd=root / "dask",
                       env={k: v for k, v in clean_env.items() if k != CRASH_ENV})
    reports = [root / name / "report.json" for name in ("local", "dask")]
    return {"root": root, "local": local, "dask": dask,
            "local_report": json.loads(reports[0].read_text()) if reports[0].exists() else None,
            "dask_report": json.loads(reports[1].read_text()) if reports[1].exists() else None}


def test_dask_report_equals_local(both):
    local, dask = both["local"], both["dask"]
    assert local.returncode == 1, local.stderr
    assert dask.returncode == 1, dask.stderr
    lrep, drep = both["local_report"], both["dask_report"]
    recs = {Path(r["input"]).name: r for r in drep["records"]}
    assert {n: r["status"] for n, r in recs.items()} == {
        "scene_grbg.dng": "done", "Scene_RGGB.DNG": "done", "wb_cast.dng": "done", "truncated.dng": "failed",
        "empty.nef": "failed", "random.cr2": "failed", "crashme.dng": "failed"}
    assert recs["crashme.dng"]["error"]["class"] == "WorkerCrashError"
    assert recs["truncated.dng"]["error"]["class"] == "CorruptRawError"
    assert recs["truncated.dng"]["error"]["message"].startswith("in/bad/truncated.dng")  # the path as given
    assert recs["scene_grbg.dng"]["mask"]["pixels"] > 0 and recs["scene_grbg.dng"]["completion"] == "biharmonic"
    for lrec, drec in zip(comparable(lrep)["records"], comparable(drep)["records"]):
        assert drec == lrec
    assert comparable(drep) == comparable(lrep)
    assert drep["summary"] == {"inputs": 7, "done": 3, "failed": 4, "skipped": 0, "not_run": 0, "passed_over": 2}
    assert "3 done, 4 failed" in dask.stderr


def test_dask_outputs_equal_local_byte_for_byte(both):
    root = both["root"]
    local, dask = files(root / "local" / "out"), files(root / "dask" / "out")
    assert sorted(local) == sorted(dask)
    images = [k for k in local if not Path(k).name.startswith(".")]
    assert sorted(images) == ["scene_grbg.tif", "sub/Scene_RGGB.tif", "sub/wb_cast.tif"]
    for name in images:
        assert dask[name] == local[name], name
    for name in set(local) - set(images):  # resume sidecars: same fingerprint, size and settings
        assert name.endswith(".rawcomplete.json"), name
        ls, ds = json.loads(local[name]), json.loads(dask[name])
        assert Path(ds.pop("input")) == root / "dask" / ls.pop("input")  # absolute on a worker
        ls.pop("written"), ds.pop("written")
        assert ds == ls


def test_resume_accepts_the_other_executors_outputs(both, cluster, clean_env):
    """Fingerprints do not depend on the executor: a Dask --resume keeps the local outputs."""
    root = both["root"] / "local"
    before = {p: p.stat().st_mtime_ns for p in (root / "out").rglob("*.tif")}
    proc = run_cli([root / "in" / "sub", "-o", root / "out" / "sub", "--resume", "--method", "biharmonic",
                    "--scheduler", cluster[0].scheduler_address, "--report", root / "resume.json"], cwd=root,
                   env=clean_env)
    assert proc.returncode == 0, proc.stderr
    recs = json.loads((root / "resume.json").read_text())["records"]
    assert [r["status"] for r in recs] == ["skipped", "skipped"]
    assert all(r["reason"].startswith("complete") for r in recs)
    assert {p: p.stat().st_mtime_ns for p in (root / "out").rglob("*.tif")} == before


@pytest.mark.parametrize("how", ["DASK_SCHEDULER_ADDRESS", "own LocalCluster"])
def test_cli_finds_its_cluster(both, cluster, clean_env, how):
    """``--executor dask`` uses $DASK_SCHEDULER_ADDRESS when set, else starts a local cluster."""
    root = both["root"]
    out = root / how.replace(" ", "_")
    env = {k: v for k, v in clean_env.items() if k != "DASK_SCHEDULER_ADDRESS"}
    if how == "DASK_SCHEDULER_ADDRESS":
        env["DASK_SCHEDULER_ADDRESS"] = cluster[0].scheduler_address
    proc = run_cli([root / "local" / "in" / "sub", "-o", out, "--executor", "dask", "--jobs", "2",
                    "--method", "biharmonic", "--report", out / "r.json"], cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    pids = {r["worker_pid"] for r in json.loads((out / "r.json").read_text())["records"]}
    ours = set(cluster[1].run(os.getpid).values())
    assert (pids <= ours) if how == "DASK_SCHEDULER_ADDRESS" else not (pids & ours)
    for name in ("Scene_RGGB.tif", "wb_cast.tif"):
        assert (out / name).read_bytes() == (root / "local" / "out" / "sub" / name).read_bytes()


def test_killed_worker_file_is_retried_and_outputs_are_whole(tmp_path, samples_dir, cluster, monkeypatch):
    import tifffile

    import runner.batch
    from runner.batch import run_batch
    from runner.dask_executor import DaskExecutor
    from runner.settings import Settings
    from test_dask_helpers import slow_process_file

    _need_samples(samples_dir)
    cl, client = cluster
    inp = tmp_path / "in"
    inp.mkdir()
    names = ["a.dng", "b.dng", "slow.dng", "c.dng", "d.dng"]
    for name in names:
        shutil.copy(samples_dir / "scene_rggb.dng", inp / name)
    monkeypatch.setattr(runner.batch, "process_file", slow_process_file)
    pids_before = set(client.run(os.getpid).values())

    killed: list[int] = []

    def kill_the_slow_worker() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            started = list(inp.glob("slow.dng.started-*"))
            if started:
                pid = int(started[0].name.rsplit("-", 1)[1])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_slow_worker, daemon=True)
    killer.start()
    settings = Settings(method="biharmonic", progress=False, report=str(tmp_path / "r.json"))
    result = run_batch([inp], tmp_path / "out", settings, executor=DaskExecutor(client=client))
    killer.join(timeout=5)
    settle(client)

    assert killed and killed[0] in pids_before  # a worker of the cluster died holding slow.dng
    assert result.exit_code == 0, result.records
    recs = {Path(r.input).name: r for r in result.records}
    assert all(recs[n].status == "done" for n in names)
    assert recs["slow.dng"].worker_pid != killed[0]  # finished by another worker process
    assert len(list(inp.glob("slow.dng.started-*"))) == 2  # ... after starting once more
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.tif")) == [n.replace(".dng", ".tif") for n in sorted(names)]
    reference = tifffile.imread(out / "a.tif")
    for p in out.glob("*.tif"):
        np.testing.assert_array_equal(tifffile.imread(p), reference)  # whole, and the same image
    assert list(out.rglob("*.rawcomplete-partial")) == []  # the killed attempt's temporary is gone

    # Resume after the incident: everything is complete, nothing is submitted.
    again = run_batch([inp], out, Settings(method="biharmonic", progress=False, resume=True),
                      executor=DaskExecutor(client=client))
    assert again.exit_code == 0 and {r.status for r in again.records} == {"skipped"}


def test_small_batch_crash_fails_alone(tmp_path, samples_dir, clean_env):
    """Four files on two workers all go out at once (too few to be queued by the scheduler), so
    good files sit on the workers the crashing one kills: they still complete."""
    from runner.batch import run_batch
    from runner.dask_executor import DaskExecutor
    from runner.settings import Settings

    _need_samples(samples_dir)
    inp = tmp_path / "in"
    inp.mkdir()
    names = ["a.dng", "crashme.dng", "b.dng", "c.dng"]
    for name in names:
        shutil.copy(samples_dir / "wb_cast.dng", inp / name)
    with start_cluster(crash=True) as (_, client):
        ex = DaskExecutor(client=client)
        result = run_batch([inp], tmp_path / "out", Settings(progress=False), executor=ex)
    recs = {Path(r.input).name: r.to_json() for r in result.records}
    assert result.exit_code == 1
    assert recs["crashme.dng"]["status"] == "failed" and recs["crashme.dng"]["error"]["class"] == "WorkerCrashError"
    assert "crashme.dng" in recs["crashme.dng"]["error"]["message"]
    assert all(recs[n]["status"] == "done" for n in names if n != "crashme.dng"), recs
    assert ex.crashes == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == \
        ["a.tif", "b.tif", "c.tif"]


def test_workers_check_paths_before_anything_runs(tmp_path, cluster):
    from runner.dask_executor import ClusterError, DaskExecutor
    from runner.errors import PipelineInputError
    from runner.settings import Settings
    from runner.work import Task

    ex = DaskExecutor(client=cluster[1])
    missing = tmp_path / "not-on-the-workers" / "x.dng"
    task = Task(index=0, input=str(missing), output=str(tmp_path / "out" / "x.tif"), settings=Settings())
    with pytest.raises(ClusterError) as info:
        list(ex.run(pytest.fail, [task]))  # fails before anything is submitted
    message = str(info.value)
    assert isinstance(info.value, PipelineInputError)
    assert f"cannot see {str(missing)!r}" in message
    assert "worker tcp://127.0.0.1:" in message and "shared or network file system" in message


def test_model_cached_once_per_worker(tmp_path, samples_dir, cluster):
    """Several masked files per worker: one Pipeline and (with the GAN) one generator per worker."""
    from runner.batch import run_batch
    from runner.dask_executor import DaskExecutor
    from runner.settings import Settings
    from test_dask_helpers import worker_caches

    _need_samples(samples_dir)
    gan = (REPO / "completion" / "weights" / "generator.pt").is_file()
    client = cluster[1]
    before = {c["pid"]: c for c in client.run(worker_caches).values()}
    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(6):
        shutil.copy(samples_dir / "scene_grbg.dng", inp / f"m{i}.dng")
        shutil.copy(samples_dir / "scene_grbg.mask.png", inp / f"m{i}.mask.png")
    settings = Settings(method="gan" if gan else "biharmonic", device="cpu", progress=False)
    result = run_batch([inp], tmp_path / "out", settings, executor=DaskExecutor(client=client))
    assert result.exit_code == 0, result.records
    assert {r.completion for r in result.records} == {settings.method}
    per_pid = {}
    for r in result.records:
        per_pid[r.worker_pid] = per_pid.get(r.worker_pid, 0) + 1
    after = {c["pid"]: c for c in client.run(worker_caches).values()}
    for pid, n in per_pid.items():
        old = before.get(pid, {"pipelines": 0, "generators": 0})  # earlier tests used other settings
        assert after[pid]["pipelines"] == old["pipelines"] + 1, (pid, n, before, after)
        if gan:
            assert old["generators"] == 0 and after[pid]["generators"] == 1, (pid, n, before, after)
    assert max(per_pid.values()) >= 2  # some worker handled several files with one model


def test_a_cluster_left_without_workers_fails_the_rest_and_returns(tmp_path, samples_dir, clean_env):
    """When no worker is left (a nanny may fail to bring a crashed one back) the run does not
    hang: after ``timeout`` seconds the files left fail with ClusterError and the report is made."""
    import dask
    from distributed import Client, LocalCluster

    import runner.batch
    from runner.batch import run_batch
    from runner.dask_executor import DaskExecutor
    from runner.settings import Settings
    from test_dask_helpers import slow_process_file

    _need_samples(samples_dir)
    inp = tmp_path / "in"
    inp.mkdir()
    for name in ("slow1.dng", "slow2.dng", "slow3.dng"):
        shutil.copy(samples_dir / "wb_cast.dng", inp / name)
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        cl = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, memory_limit=0,
                          scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    client = Client(cl, set_as_default=False)
    try:
        def scale_down_mid_file() -> None:  # the only worker goes away holding slow1.dng
            end = time.monotonic() + 60
            while not list(inp.glob("slow*.dng.started-*")) and time.monotonic() < end:
                time.sleep(0.02)
            cl.scale(0)

        threading.Thread(target=scale_down_mid_file, daemon=True).start()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runner.batch, "process_file", slow_process_file)
            t = time.monotonic()
            result = run_batch([inp], tmp_path / "out", Settings(progress=False, report=str(tmp_path / "r.json")),
                               executor=DaskExecutor(client=client, timeout=3))
        assert time.monotonic() - t < 60
    finally:
        client.close()
        cl.close()
    assert result.exit_code == 1
    assert {r.status for r in result.records} == {"failed"}
    for rec in result.records:
        assert rec.error.cls == "ClusterError" and "no workers for 3 s" in rec.error.message
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["failed"] == 3
    assert len(list(inp.glob("slow*.dng.started-*"))) >= 1  # a file was in flight when it left
    assert list((tmp_path / "out").rglob("*.rawcomplete-partial")) == []  # its temporary is gone
