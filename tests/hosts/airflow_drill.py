"""Airflow retries against flo's operators and against a plain send: run with dag.test()
inside the Airflow environment by test_airflow.py (it lists what reached the sandbox).

Each task's first try "loses its worker" just after sending, before Airflow records the
result, so Airflow retries work that was already sent; the sandbox also answers 30% of
creates with a 500 after storing them.
"""

import asyncio
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from flo_twilio import CardContext, call_card, load_registry
from flo_twilio.hosts.airflow.bulk import BulkSendOperator
from flo_twilio.hosts.airflow.hook import FloTwilioHook
from flo_twilio.hosts.airflow.operators import CustomApiOperator, SendMmsOperator, SendSmsOperator

SENDER = {"from": "+15005550006"}


def recipients(prefix: str, count: int) -> list[dict]:
    return [{"to": f"{prefix}{n:04d}", "body": f"Drill {n}"} for n in range(count)]


def lose_first_try(context) -> None:
    if context["ti"].try_number == 1:
        raise RuntimeError("worker lost after sending, before Airflow recorded the result")


class LostBulk(BulkSendOperator):
    def execute(self, context):
        outputs = super().execute(context)
        lose_first_try(context)
        return outputs


class LostSms(SendSmsOperator):
    def execute(self, context):
        outputs = super().execute(context)
        lose_first_try(context)
        return outputs


with DAG(
    "retry_drill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    default_args={"retries": 4, "retry_delay": timedelta(seconds=1)},
) as dag:
    LostBulk.partial(task_id="flo_bulk", options=SENDER, concurrency=4).expand(
        items=[recipients("+1206556", 8), recipients("+1206557", 8)]
    )
    LostSms(task_id="flo_once", options=SENDER, inputs={"to": "+12065580000", "body": "Once"})
    SendSmsOperator(
        task_id="refused", options=SENDER, inputs={"to": "+15005550001", "body": "Bad number"}
    )
    BulkSendOperator(
        task_id="from_file", options=SENDER, items_file="{{ dag.folder }}/airflow_rows.csv"
    )
    BulkSendOperator(task_id="no_file", options=SENDER, items_file="{{ dag.folder }}/none.csv")
    SendMmsOperator(  # through a connection whose extras are numbers (JSON)
        task_id="mms",
        twilio_conn_id="twilio_paced",
        options=SENDER,
        inputs={"to": "+12065580001", "mediaUrls": ["https://example.com/cat.jpg"]},
    )
    CustomApiOperator(  # the answer holds the account's auth_token: masked in XCom
        task_id="custom",
        options={"method": "GET"},
        inputs={"relativeUrl": "/Accounts/{{ conn.twilio_default.login }}.json"},
    )

    @task
    def plain(**context) -> None:
        """What the issue saw: the card called directly, the host's retries on."""

        async def send_all() -> None:
            account = FloTwilioHook().account()
            card = load_registry().card("twilio.send_sms")()
            kind = load_registry().connection("twilio")
            async with kind.connect(account.connection_values()) as client:
                for item in recipients("+1206559", 8):
                    await call_card(card, CardContext(client, {}), SENDER, item)

        asyncio.run(send_all())
        lose_first_try(context)

    plain()

if __name__ == "__main__":
    dag.test()
