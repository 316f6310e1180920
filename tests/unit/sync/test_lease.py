"""The sync lease against the template's numbers: what `powerfactor.sync` relies on, as tests.

A sync run takes its plant's lease (`LEASE_SECONDS`) as it starts, in the worker that consumes
SyncQueue, and releases it when it ends; a worker stopped at its Timeout never releases it, and
its message comes back after the queue's visibility timeout. Three numbers must agree:

- the lease outlives the worker's longest run, or a second run could take the plant while the
  first still writes (that run would then stop as `lost`, its work cut short);
- a message stays invisible while its run can still be going, or SQS hands it to a second
  worker meanwhile (AWS refuses such a mapping);
- a message whose run was stopped comes back after that run's lease has expired, or its retry
  finds the plant `busy`, the worker deletes the message, and the job is gone until the next
  daily sync.
"""

from __future__ import annotations

from devstack.template import Function, Template
from powerfactor.sync.run import LEASE_SECONDS

# Lambda hosts keep their clocks within milliseconds of each other (NTP, Amazon Time Sync); a
# lease's end is written with one host's clock and compared with another's. The minute also
# covers what comes between a receive and the lease's start (an init phase is at most 10 s).
MARGIN_SECONDS = 60


def lease_holder(template: Template) -> tuple[Function, dict]:
    """The function that runs the sync (it consumes SyncQueue), and that queue's properties."""
    ((worker, event),) = [
        (f, e) for f, e in template.event_sources("SQS") if e["Queue"]["Fn::GetAtt"][0] == "SyncQueue"
    ]  # the other consumer: AlertWebhookFunction, of AlertWebhookQueue
    queue = event["Queue"]["Fn::GetAtt"][0]
    assert (worker.logical_id, queue) == ("SyncWorkerFunction", "SyncQueue")
    return worker, template.queues()[queue]


def test_the_lease_outlives_the_longest_run_of_the_worker(template) -> None:
    worker, _ = lease_holder(template)
    assert worker.timeout + MARGIN_SECONDS <= LEASE_SECONDS, (
        f"LEASE_SECONDS ({LEASE_SECONDS}) must exceed {worker.logical_id}'s Timeout "
        f"({worker.timeout} s) by at least {MARGIN_SECONDS} s"
    )


def test_a_message_stays_invisible_while_its_run_can_still_be_going(template) -> None:
    worker, queue = lease_holder(template)
    assert int(queue["VisibilityTimeout"]) >= worker.timeout + MARGIN_SECONDS


def test_a_stopped_runs_message_comes_back_after_its_lease_has_expired(template) -> None:
    _, queue = lease_holder(template)
    assert int(queue["VisibilityTimeout"]) >= LEASE_SECONDS + MARGIN_SECONDS, (
        f"SyncQueue's VisibilityTimeout ({queue['VisibilityTimeout']} s) must exceed "
        f"LEASE_SECONDS ({LEASE_SECONDS}) by at least {MARGIN_SECONDS} s"
    )
