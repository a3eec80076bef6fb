"""The Dask executor's edges that need no cluster: without the extra, option errors, addresses.

These run whether or not ``dask[distributed]`` is installed (its absence is simulated).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import logger_restored

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_logger():
    """``runner.cli.main`` reconfigures the "rawcomplete" logger; undo that after each test."""
    with logger_restored():
        yield


@pytest.fixture
def no_distributed(monkeypatch):
    """``import distributed`` fails, as on an install without ``rawcomplete[dask]``."""
    monkeypatch.setitem(sys.modules, "distributed", None)


def test_without_the_extra_make_executor_says_how_to_install(no_distributed):
    from runner.errors import PipelineError, PipelineInputError
    from runner.executors import make_executor

    with pytest.raises(PipelineInputError, match=r"pip install 'rawcomplete\[dask\]'") as info:
        make_executor("dask", jobs=2)
    assert isinstance(info.value, PipelineError)
    assert type(info.value).__name__ == "ClusterError"


def test_without_the_extra_the_cli_exits_2(no_distributed, tmp_path, capsys):
    from runner.cli import main

    (tmp_path / "in").mkdir()
    code = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--executor", "dask"])
    err = capsys.readouterr().err
    assert code == 2
    assert "rawcomplete[dask]" in err and "--executor dask" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--executor", "ray"], "invalid choice: 'ray'"),
        (["--executor", "local", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --executor dask"),
    ],
)
def test_executor_usage_errors_exit_2(tmp_path, capsys, args, message):
    from runner.cli import main

    (tmp_path / "in").mkdir()
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err


def test_scheduler_address_flag_then_environment(monkeypatch):
    from runner.dask_executor import SCHEDULER_ENV, scheduler_address

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert SCHEDULER_ENV == "DASK_SCHEDULER_ADDRESS"
    assert scheduler_address(None) is None  # no address: a local cluster
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.7:8786")
    assert scheduler_address(None) == "tcp://10.0.0.7:8786"
    assert scheduler_address("tcp://127.0.0.1:9000") == "tcp://127.0.0.1:9000"  # the flag wins
    monkeypatch.setenv(SCHEDULER_ENV, "  ")
    assert scheduler_address(None) is None


def test_unreachable_scheduler_is_a_clear_error():
    pytest.importorskip("distributed")
    from runner.dask_executor import ClusterError, DaskExecutor

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = DaskExecutor(scheduler=f"tcp://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'"):
        ex.client
    ex.close()


def test_help_does_not_import_dask():
    code = ("import sys; from runner.cli import main; rc = main(['--help']); "
            "sys.stderr.write(repr(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'})))")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--executor {local,dask}" in proc.stdout and "--scheduler ADDRESS" in proc.stdout
    assert proc.stderr.endswith("[]")
