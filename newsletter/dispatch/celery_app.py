"""The Celery app of a distributed send, built from Settings (no module-level app, no global config).

Celery carries the batches from the command that plans a send to the workers; the ledger decides who
sends what. What makes a killed worker lose nothing is set here: a message is acknowledged only after
its task returned (``acks_late``), which is after the batch's results were committed; a worker process
that dies mid-task has its message handed to another worker (``reject_on_worker_lost``, and the broker
redelivers what an unacknowledged connection held); each worker takes one message at a time
(``prefetch_multiplier = 1``), so a stopped worker holds nothing another could be sending.

RabbitMQ (``amqp://``) hands an unacknowledged message back the moment the worker's connection drops.
Redis (``redis://``) has no connections to watch: it hands a message back once
``broker_visibility_timeout`` passed without an ack, so that timeout bounds how long a killed worker's
batch waits. A batch redelivered to a worker while its first holder is still alive finds the claim
live in the ledger and waits for it (see ``batches``): redelivery never makes two senders.
"""

from __future__ import annotations

from celery import Celery

from newsletter.config import Settings

SEND_BATCH = "newsletter.send_batch"
RUN_DUE = "newsletter.run_due"
RUN_DUE_EVERY = 60.0  # seconds between `run-due` passes of a worker started with --beat


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://"))


def make_celery(settings: Settings) -> Celery:
    app = Celery("newsletter", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.worker_queue,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        beat_schedule={
            "run-due": {
                "task": RUN_DUE,
                "schedule": RUN_DUE_EVERY,
                "options": {"queue": settings.worker_queue},
            }
        },
    )
    if is_redis(settings.broker_url):
        app.conf.broker_transport_options = {
            "visibility_timeout": settings.broker_visibility_timeout,
            "global_keyprefix": settings.redis_prefix,
        }
    return app


def broker_problem(settings: Settings, timeout: float = 3.0) -> str | None:
    """None when the broker answers; else what is wrong, in words (``newsletter doctor``, ``send``)."""
    app = make_celery(settings)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu raises the transport's own errors: report any of them in words
        return f"cannot reach the broker {safe_url(settings.broker_url)}: {exc}"
    return None


def safe_url(url: str) -> str:
    """A URL for messages: the password hidden."""
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
