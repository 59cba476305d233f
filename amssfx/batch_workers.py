"""Many batch items at once: a pool of worker processes on this machine (one per core by default), or
the workers of a Dask distributed scheduler; a cancel token stops every running file within a block.
The summary of a run lists every file's result."""
from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .batch import SUMMARY_NAME, Item, Job, one_line, result, run_item, write_record
from .errors import AmssfxError, Cancelled


_CANCEL = None  # a worker process's cancel token (set by the pool's initializer)


def _init_local_worker(cancel) -> None:
    import signal

    global _CANCEL
    _CANCEL = cancel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch's own process stops the workers through `cancel`


def _run_local_item(job: Job, item: Item, out_dir: str) -> dict:
    return run_item(job, item, out_dir, _CANCEL)


class _ClusterCancel:
    """A Dask distributed Event as the engine's cancel token, asked at most twice a second."""

    def __init__(self, name: str):
        self.name, self._asked, self._set = name, 0.0, False

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._asked > 0.5:
            from distributed import Event

            self._asked = now
            self._set = Event(self.name).is_set()
        return self._set


def run_cluster_item(job: Job, item: Item, out_dir: str, cancel_name: str) -> dict:
    """The task a Dask worker runs for one file."""
    try:
        return run_item(job, item, out_dir, _ClusterCancel(cancel_name))
    except Cancelled as e:
        return result(item, "cancelled", str(e))


OnResult = Callable[[dict], None]


def _this_run(job: Job) -> Job:
    """The job marked with this run's id, so a file a lost worker finished counts as done, not skipped."""
    return job if job.run_id else replace(job, run_id=secrets.token_hex(8))


def run_local(job: Job, items: list[Item], out_dir, workers: int | None = None,
              on_result: OnResult | None = None, stop: threading.Event | None = None) -> list[dict]:
    """Every item on this machine, `workers` processes (default: one per core)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = workers or os.cpu_count() or 1
    job = _this_run(job)
    ctx = mp.get_context("spawn")  # never fork a process that runs onnxruntime threads
    cancel = ctx.Event()
    results: list[dict] = []
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=ctx,
                               initializer=_init_local_worker, initargs=(cancel,))
    futures = {}
    try:
        futures = {pool.submit(_run_local_item, job, it, str(out_dir)): it for it in items}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for f in done:
                _take(_collect(f, futures[f]), results, on_result, None)
            _take(None, results, None, stop)
    except BaseException:
        cancel.set()
        for f in futures:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _take(r: dict | None, results: list[dict], on_result: OnResult | None, stop: threading.Event | None) -> None:
    """Keep a file's result and report it; a stop asked for by the caller (the app's Cancel) ends the run
    as Ctrl-C does."""
    if r is not None:
        results.append(r)
        if on_result:
            on_result(r)
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt


def _collect(future, item: Item) -> dict:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except Cancelled as e:
        return result(item, "cancelled", str(e))
    except BrokenProcessPool:
        return result(item, "failed", "its worker process died (out of memory, or killed)")


def run_cluster(job: Job, items: list[Item], out_dir, address: str, on_result: OnResult | None = None,
                stop: threading.Event | None = None) -> list[dict]:
    """Every item on the workers of the Dask distributed scheduler at `address`. A worker that dies
    loses nothing: the scheduler gives its files to another worker."""
    try:
        from distributed import Client, Event, as_completed
    except ImportError:
        raise AmssfxError("--cluster needs Dask distributed: pip install 'amssfx[batch]'") from None
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as e:
        raise AmssfxError(f"cannot reach the Dask scheduler at {address}: {one_line(str(e), 160)}") from None
    job = _this_run(job)
    name = f"amssfx-batch-cancel-{secrets.token_hex(8)}"
    cancel = Event(name, client=client)
    results: list[dict] = []
    futures = []
    try:
        futures = [client.submit(run_cluster_item, job, it, str(Path(out_dir).resolve()), name, pure=False,
                                 key=f"amssfx-{secrets.token_hex(6)}-{k}") for k, it in enumerate(items)]
        by_key = {f.key: it for f, it in zip(futures, items)}
        for f in as_completed(futures):
            try:
                r = f.result()
            except Exception as e:  # noqa: BLE001 - the scheduler gave up on it (workers died repeatedly)
                r = result(by_key[f.key], "failed", one_line(f"the cluster could not run it: {type(e).__name__}: {e}"))
            _take(r, results, on_result, stop)
    except BaseException:
        cancel.set()
        running = [f for f in futures if not f.done()]
        client.cancel([f for f in running if f.status == "pending"])
        try:  # a running file stops within a block (its outputs are discarded)
            from distributed import wait as dwait
            dwait(running, timeout=60)
        except Exception:  # noqa: BLE001
            pass
        raise
    finally:
        client.close()
    return results


def write_summary(out_dir, job: Job, items: list[Item], results: list[dict], seconds: float) -> Path:
    """`<outdir>/batch-summary.json`: every file's result (in input order), the counts and the job."""
    by_input = {r["input"]: r for r in results}
    rows = [by_input.get(it.input) or result(it, "not run", "the batch was stopped first") for it in items]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed", "cancelled", "not run")}
    doc = {"job": {**job.spec(), "model_sha256": job.model_sha256}, "seconds": round(seconds, 3),
           "counts": counts, "files": rows}
    path = Path(out_dir) / SUMMARY_NAME
    write_record(path, doc)
    return path


__all__ = ["run_local", "run_cluster", "run_cluster_item", "write_summary"]
