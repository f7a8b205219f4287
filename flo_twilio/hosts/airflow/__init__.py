"""flo in Apache Airflow (3.2 or later): the ``twilio`` connection type and its hook
(``hook.FloTwilioHook``), and operators for the cards (``operators``) that send exactly
once under Airflow's retries. Installed with ``pip install 'flo-twilio[airflow]'``; Airflow
finds the connection type through the ``apache_airflow_provider`` entry point
(``provider.get_provider_info``)."""
