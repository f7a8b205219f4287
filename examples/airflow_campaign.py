"""A Twilio campaign from Airflow, sent exactly once however often Airflow retries its tasks
(docs/hosts.md, "Use in Airflow"). Put it in your dags folder; `python airflow_campaign.py`
runs it once with dag.test()."""

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from flo_twilio.hosts.airflow.bulk import BulkSendOperator
from flo_twilio.hosts.airflow.operators import SendSmsOperator

with DAG(
    "twilio_campaign",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"retries": 3, "retry_delay": timedelta(seconds=2)},
) as dag:

    @task
    def recipients() -> list[dict]:
        """Who gets what: read it from your database, an API, a file..."""
        return [
            {"to": f"+1206555{n:04d}", "body": f"Hello #{n}, see you Friday"} for n in range(20)
        ]

    campaign = BulkSendOperator(
        task_id="campaign",
        options={"from": "+15005550006"},
        items=recipients(),
        concurrency=4,
    )
    report = SendSmsOperator(
        task_id="report",
        options={"from": "+15005550006"},
        inputs={
            "to": "+12065559999",
            "body": "Campaign {{ run_id }}: {{ ti.xcom_pull('campaign')['done'] }} sent",
        },
    )
    campaign >> report

if __name__ == "__main__":
    dag.test()
