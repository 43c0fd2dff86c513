"""driftline's client library: log predictions and outcomes from the service that makes them.

    from driftline.client import Client

    client = Client(url="http://127.0.0.1:9108", api_key="...")      # or Client(kafka="broker:9092")
    ids = client.log_predictions(frame, model="churn", version="3", prediction="prediction", score="score")
    client.log_outcomes(ids, labels, model="churn")

Light on purpose, since it runs inside a model service: the standard library and orjson, with
kafka-python imported only for `Client(kafka=...)`. Nothing of the monitoring service is imported.
"""

from driftline.client import Client, ClientError, RejectedEvent

__all__ = ["Client", "ClientError", "RejectedEvent"]
