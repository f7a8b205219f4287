"""Run in the Dagster venv (tests/hosts/test_dagster.py starts it): the documented campaign job
in a run worker of its own (dagster_run.py, a child process), SIGKILLed once the sandbox
holds ``KILL_AFTER`` of its messages; the run is then marked failed (as Dagster's run
monitoring does with a dead worker) and re-executed as the daemon's run retries would, by
the job's ``dagster/retry_strategy`` tag (the documented: ALL_STEPS). Prints one line:
KILLED {json}.

    python dagster_killed.py FILE RUN_CONFIG_JSON SANDBOX_URL SID TOKEN
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
from dagster._core.definitions.reconstruct import ReconstructableRepository

KILL_AFTER = 4  # messages the first run worker sends before it dies


def held(url: str, sid: str, token: str) -> int:
    page = f"{url}/2010-04-01/Accounts/{sid}/Messages.json?PageSize=1000"
    return len(httpx.get(page, auth=(sid, token)).raise_for_status().json()["messages"])


def as_the_daemon_would(run: dg.DagsterRun, instance: dg.DagsterInstance) -> dg.ReexecutionOptions:
    """The re-execution Dagster's daemon makes of a failed run, by its job's
    ``dagster/retry_strategy`` tag: all steps, or (the default) from failure."""
    if run.tags.get("dagster/retry_strategy") == "ALL_STEPS":
        return dg.ReexecutionOptions(parent_run_id=run.run_id)
    return dg.ReexecutionOptions.from_failure(run.run_id, instance)


def main(path: str, config: str, url: str, sid: str, token: str) -> None:
    before = held(url, sid, token)
    runner = Path(__file__).with_name("dagster_run.py")
    worker = subprocess.Popen([sys.executable, str(runner), path, config, "campaign"])
    deadline = time.monotonic() + 120
    while held(url, sid, token) < before + KILL_AFTER:
        assert worker.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run sent nothing in 120 s"
        time.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    sent_before_the_kill = held(url, sid, token) - before
    with dg.DagsterInstance.get() as instance:
        [killed] = instance.get_runs(limit=1)
        instance.report_run_failed(killed)  # what run monitoring does with a dead worker
        repository = ReconstructableRepository.for_file(path, "defs", os.getcwd())
        recon = repository.get_reconstructable_job("campaign")
        run_config = {**json.loads(config), "execution": {"config": {"in_process": {}}}}
        again = as_the_daemon_would(killed, instance)
        with dg.execute_job(recon, instance, run_config=run_config, reexecution_options=again) as r:
            success = r.success
    seen = {"sent_before_the_kill": sent_before_the_kill, "killed_status": str(killed.status)}
    print("KILLED", json.dumps({**seen, "reexecuted_success": success}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
