"""flo's journal in the PostgreSQL database of an Airflow connection (``journal_conn_id``):
run with dag.test() inside the Airflow environment by test_airflow.py, which gives the
connections ``flo_journal`` (conn_type postgres) and ``twilio_journalled`` as variables."""

from datetime import datetime

from airflow.sdk import DAG

from flo_twilio.hosts.airflow.bulk import BulkSendOperator

with DAG("journalled", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    BulkSendOperator(
        task_id="campaign",
        twilio_conn_id="twilio_journalled",
        journal_conn_id="flo_journal",
        options={"from": "+15005550006"},
        items=[{"to": f"+1206557{n:04d}", "body": "kept in PostgreSQL"} for n in range(5)],
        concurrency=2,
    )

if __name__ == "__main__":
    dag.test()
