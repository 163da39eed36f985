"""One process of the concurrent-writers test: threads that edit rows (audit entries), take and
give back row locks and save view settings, all at once, in Nocoflo's metadata file.

Run in `manage.py shell` by tests/faults/test_sqlite_metadata_and_server_kill.py, several
processes at a time. Prints one JSON line: what each thread wrote and every error a user would
have seen.
"""

from __future__ import annotations

import json
import threading

from django.contrib.auth import get_user_model
from django.db import connection

from core.models import TableMeta
from datasources_app import rows
from datasources_app.values import encode_key
from views_app import preferences

THREADS = 4
ROUNDS = 8
SETTINGS_BURST = 20
FIRST_ROW = 50  # orders rows 50 and up; the server-kill test edits the first few


def row_id(process: int, thread: int) -> int:
    """Each thread edits a row of its own (compare-and-set never conflicts between them)."""
    return FIRST_ROW + process * THREADS + thread


def main(process: int, table_id: int) -> None:
    user, _ = get_user_model().objects.get_or_create(
        username=f"writer{process}", defaults={"is_superuser": True, "is_staff": True}
    )
    table = TableMeta.objects.get(pk=table_id)
    errors: list[str] = []
    written: dict[str, int] = {}
    # The threads save their settings in a burst, all at once: the sharpest race for the row.
    started = threading.Barrier(THREADS, timeout=60)

    def work(thread: int) -> None:
        holder = f"faults:{process}:{thread}"
        key = encode_key([row_id(process, thread)])
        try:
            opened = rows.open_table(user, table_id)
            for turn in range(ROUNDS):
                rows.lock_row(opened, key, holder)
                stored = rows.update_row(opened, key, {"quantity": 1000 + turn}, holder=holder)
                written[key] = stored["quantity"]
                rows.unlock_row(opened, key, holder)
                # A lock every writer wants at once: refused to all but one user, never an error.
                try:
                    rows.lock_row(opened, encode_key([1]), holder)
                    rows.unlock_row(opened, encode_key([1]), holder)
                except rows.RowLocked:
                    pass
                # Each thread keeps its own view's settings, all in the user's one preference row.
                preferences.save_view_config(user, table, f"view{thread}", {"turn": turn})
            started.wait()
            for turn in range(ROUNDS, ROUNDS + SETTINGS_BURST):
                preferences.save_view_config(user, table, f"view{thread}", {"turn": turn})
        except Exception as exc:  # what a user would have been shown
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"process": process, "errors": errors, "written": written}))
