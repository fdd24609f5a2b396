import signal, time
from tests.integration.test_worker_crash import *  # noqa
from tests.integration.test_worker_crash import _fake_aws_credentials  # noqa
from tests.integration.moto_server import moto_endpoint  # noqa

def test_probe(sim, moto_endpoint, tmp_path):
    for operation in ("CreateItem", "UpdateItem"):
        sim.faults.add_latency(*WRITE_LATENCY_MS, operation=operation)
    stack = build_stack(sim, moto_endpoint)
    url = broker_url("redis", moto_endpoint, fast_dead_worker_requeue=False)
    integration_id = stack.install("personal", integration_id="probe-personal")
    env = stack.worker_environment(url, threads=THREADS)
    t0 = time.monotonic()
    p = spawn_worker(env, tmp_path / "w.log")
    batch = enqueue_bookings(url, integration_id, "probe")
    print("enqueued", time.monotonic() - t0)
    recs = stack.wait_until_final(batch.message_ids, timeout=100)
    print("final", time.monotonic() - t0)
    stop_worker(p)
    rs = sorted(recs.values(), key=lambda r: r.started_at)
    base = rs[0].created_at
    for r in rs[:70]:
        print(r.actor_name, (r.started_at - base).total_seconds(), (r.finished_at - r.started_at).total_seconds())
    print(log_tail(tmp_path / "w.log", 15))
