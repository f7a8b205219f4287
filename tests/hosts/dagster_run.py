"""Run in the Dagster venv: execute jobs of a Dagster file in process, one after the other,
on the instance of $DAGSTER_HOME; a job given as ``reexecute:JOB`` is re-executed from
failure when it failed. Prints each run's outcome as a line: OUTCOME {json}.

    python dagster_run.py FILE RUN_CONFIG_JSON JOB...
"""

import json
import os
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository


def outcome(job: str, result) -> dict:
    events = result.all_events
    return {
        "job": job,
        "run_id": result.run_id,
        "success": result.success,
        "retries": sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in events),
        "failures": [
            e.event_specific_data.error.message
            for e in events
            if e.event_type_value == "STEP_FAILURE"
        ],
    }


def main(path: str, config: str, *jobs: str) -> None:
    repository = ReconstructableRepository.for_file(path, "defs", os.getcwd())
    run_config = {**json.loads(config), "execution": {"config": {"in_process": {}}}}
    with dg.DagsterInstance.get() as instance:
        for name in jobs:
            job = name.removeprefix("reexecute:")
            recon = repository.get_reconstructable_job(job)
            with dg.execute_job(recon, instance, run_config=run_config) as result:
                print("OUTCOME", json.dumps(outcome(job, result)), flush=True)
            if not result.success and name != job:
                again = dg.ReexecutionOptions.from_failure(result.run_id, instance)
                with dg.execute_job(
                    recon, instance, run_config=run_config, reexecution_options=again
                ) as result:
                    print("OUTCOME", json.dumps(outcome(job, result)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
